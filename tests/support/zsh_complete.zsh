# What zsh offers for a command line, one candidate a line, as a user's TAB
# would get it: an interactive zsh on a pseudo-terminal (zsh/zpty) loads the
# completion script, the line is typed, and a widget runs complete-word with
# compadd wrapped to print what it adds.
#
# usage: zsh -f zsh_complete.zsh fpath DIR LINE   (DIR holds _credproc; compinit autoloads it)
#        zsh -f zsh_complete.zsh eval FILE LINE   (as in .zshrc: eval "$(credproc completion zsh)")
zmodload zsh/zpty || exit 3
mode=$1 where=$2 line=$3

zpty shell zsh -f -i
zpty -w shell 'PROMPT="> "; RPROMPT=; unsetopt beep'
if [[ $mode == fpath ]]; then
  zpty -w shell "fpath=(${(q)where} \$fpath); autoload -Uz compinit && compinit -u -D"
else
  zpty -w shell "autoload -Uz compinit && compinit -u -D; eval \"\$(<${(q)where})\""
fi
# The markers are written split ("<"hit">") so that the echo of these very
# lines never looks like output.
zpty -w shell 'compadd () {
  if (( ${@[(I)-[OAD]*]} )); then builtin compadd "$@"; return; fi
  local -a found
  builtin compadd -O found "$@"
  print -rl -- "<"hit">"${^found}
  builtin compadd "$@"
}'
zpty -w shell 'zstyle ":completion:*" menu no; zstyle ":completion:*" list-prompt ""'
zpty -w shell 'capture() { zle complete-word; print -r -- "<""done>" }; zle -N capture; bindkey "^T" capture'
zpty -n -w shell "$line"$'\C-t'

integer count=0
while (( count++ < 5000 )) && zpty -r shell output; do
  output=${output//$'\r'/}
  [[ $output == *'<done>'* && $output != *'"<""done>"'* ]] && break
  [[ $output == *'<hit>'* ]] && print -r -- ${output#*<hit>}
done
zpty -d shell
