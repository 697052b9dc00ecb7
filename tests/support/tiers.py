"""Test tiers, assigned here rather than in the test files (so that files
added or changed in parallel merge cleanly): ``pytest -m "not slow and not
e2e"`` is the day-to-day run (README "Development"), plain ``pytest`` runs
everything.

- ``e2e``: drives real programs besides credproc: AWS SDKs and CLIs through
  the endpoint or profiles, shells, strace, pipx, the CDK CLI.
- ``slow``: measured with ``pytest --durations=0``: a test (all its
  parameters together) that took 0.5 s or more on the 2-core box while other
  work ran, mostly by starting several credproc processes or waiting out a
  timeout. A file whose tests nearly all are is listed whole.
- ``network``: needs the network (PyPI).

A name listed here that its file no longer defines is an error at
collection, so a rename cannot quietly move a test into the fast tier.
"""

from __future__ import annotations

# A test outside slow and e2e that takes this long (seconds) is named at the
# end of the run (tests/conftest.py), to be listed here.
FAST_TIER_WARNING = 2.0

NETWORK_FILES = frozenset({"test_pipx.py"})

E2E_FILES = frozenset(
    {
        "test_cdk_e2e.py",
        "test_demo.py",
        "test_disk_faults.py",
        "test_exec_server.py",
        "test_go_sdk.py",
        "test_pipx.py",
        "test_serve.py",
        "test_sts_botocore.py",
    }
)

E2E_TESTS: dict[str, tuple[str, ...]] = {
    "test_completion.py": (
        "test_bash",
        "test_every_command_of_the_parser_completes_in_every_shell",
        "test_fish",
        "test_zsh",
        "test_zsh_eval_form",
    ),
}

SLOW_FILES = frozenset(
    {
        "test_api.py",
        "test_broken_sts_answer.py",
        "test_cache_commands.py",
        "test_cache_concurrency.py",
        "test_cache_get.py",
        "test_cache_tamper.py",
        "test_each.py",
        "test_login_source.py",
        "test_refresh_failures.py",
        "test_rotation.py",
        "test_secrets.py",
        "test_source_command.py",
        "test_source_rotate.py",
        "test_sso.py",
        "test_sts_endpoints.py",
        "test_sts_faults.py",
        "test_trust.py",
    }
)

SLOW_TESTS: dict[str, tuple[str, ...]] = {
    "test_aws_file_quotes.py": ("test_doctor_names_the_credentials_file_without_the_secret",),
    "test_bad_inputs_commands.py": ("test_a_lock_timeout_of_zero_is_allowed",),
    "test_cli_parser.py": ("test_help_fills_the_terminal_as_argparse_does",),
    "test_closed_stdout.py": (
        "test_a_closed_stdout_after_a_remembered_answer",
        "test_a_full_device_is_one_line_and_exit_9",
        "test_exec_runs_its_command_with_stdout_closed_as_given",
    ),
    "test_console.py": (
        "test_a_bad_landing_page_is_a_usage_error_before_any_call",
        "test_a_cached_session_signs_in_without_sts",
        "test_a_hanging_endpoint_is_given_up_on",
        "test_a_plain_http_endpoint_bypasses_proxies",
        "test_a_redirect_is_not_followed",
        "test_a_role_assumed_with_long_term_keys_asks_for_a_console_session_of_its_duration",
        "test_an_answer_without_a_token",
        "test_an_https_endpoint_goes_through_the_proxy",
        "test_an_unreachable_endpoint",
        "test_print_gives_a_sign_in_url_for_the_target_session",
        "test_service_and_destination_choose_the_landing_page",
        "test_temporary_source_keys_ask_for_no_session_duration",
        "test_the_browser_gets_the_url_and_stderr_does_not",
        "test_the_destination_is_the_console_of_the_region_and_partition",
        "test_the_endpoint_refusing_or_failing",
        "test_verbose_output_holds_no_session_secret_or_sign_in_token",
        "test_without_a_browser_the_url_goes_to_stdout",
    ),
    "test_discover.py": (
        "test_a_role_in_the_management_account_lists_its_organization",
        "test_dry_run_lists_every_account_with_unique_aliases",
        "test_inline_accounts_table_is_not_appended_to",
        "test_throttling_by_organizations_is_unavailable_not_a_refusal",
        "test_write_appends_and_a_rerun_adds_nothing",
        "test_write_creates_a_missing_config_and_says_a_role_is_needed",
    ),
    "test_doctor.py": (
        "test_account_without_a_role_fails_the_config_check",
        "test_an_aws_config_file_botocore_cannot_parse_fails_the_profiles_check",
        "test_deep_assumes_every_accounts_role",
        "test_deep_fails_a_role_denied_since_its_session_was_cached",
        "test_deep_reports_the_role_that_cannot_be_assumed",
        "test_a_profile_assuming_its_role_with_its_own_keys_keeps_the_role",
        "test_other_sources_are_no_plaintext_keys",
        "test_the_fix_for_keys_behind_a_role_profile_keeps_its_roles_in_the_chain",
        "test_healthy_sandbox_is_all_ok",
        "test_profile_whose_own_config_sources_from_itself_is_a_loop",
        "test_source_identity_failure_fails_with_its_exit_code",
        "test_unusable_key_store_fails",
        "test_warnings_do_not_fail",
    ),
    "test_credential_server.py": (
        "test_a_client_that_trickles_bytes_is_cut_off_at_the_request_deadline",
        "test_the_endpoint_answers_from_memory_and_wakes_the_refresher_when_it_has_nothing",
    ),
    "test_env.py": (
        "test_fish_and_powershell_lines_set_and_unset",
        "test_get_formats",
        "test_sh_evaluates_env_output_to_the_accounts_credentials",
    ),
    "test_exec.py": (
        "test_a_signal_sent_to_credproc_reaches_the_command",
        "test_command_not_found_is_exit_127_with_one_line",
        "test_command_sees_the_accounts_credentials_and_region",
        "test_command_starts_with_default_signal_handling",
        "test_credproc_replaces_itself_with_the_command",
        "test_death_by_signal_passes_through",
        "test_exit_code_passes_through",
    ),
    "test_foreign_errors.py": (
        "test_a_failing_source_credential_process_does_not_echo_its_stderr",
        "test_an_unreachable_sts_is_named_by_its_url",
    ),
    "test_get.py": (
        "test_a_loop_stops_at_once_where_answers_are_remembered",
        "test_a_loop_that_strips_the_depth_variable_stops_without_the_cache",
        "test_account_id_and_role_need_no_config",
        "test_account_id_of_a_configured_account_uses_its_settings",
        "test_aws_cli_through_credential_process",
        "test_aws_profile_pointing_at_credproc_itself_still_works",
        "test_boto3_profile_through_credential_process",
        "test_chained_hops_are_clamped_to_one_hour",
        "test_first_hop_from_a_role_source_is_retried_within_one_hour",
        "test_source_profile_that_loops_back_stops_with_a_clear_error",
        "test_source_profile_that_runs_credproc_with_its_own_source_works_cold_and_at_once",
        "test_stdout_is_only_the_json_document",
        "test_two_gets_in_one_process_do_not_trip_the_recursion_guard",
        "test_two_hop_chain_reaches_the_target_account",
    ),
    "test_grammar.py": ("test_an_abbreviated_verbose_explains_the_steps_as_verbose_does",),
    "test_hardening_files.py": ("test_a_backup_is_no_looser_than_0600_or_the_original",),
    "test_keystore.py": (
        "test_get_on_a_machine_without_a_keychain_uses_the_key_file",
        "test_get_with_an_unusable_key_store_warns_and_goes_on_uncached",
    ),
    "test_locations.py": ("test_on_macos_a_repeated_get_is_answered_by_the_fast_path",),
    "test_memo.py": (
        "test_cache_clear_removes_every_memo_and_no_lock_file",
        "test_clearing_an_unknown_target_deletes_no_memo",
        "test_every_chosen_variable_changes_the_digest",
        "test_every_memo_is_one_format_in_one_directory",
        "test_memos_older_than_the_longest_session_are_pruned_when_one_is_written",
        "test_the_keychain_is_asked_once_when_it_opened_the_config_memo",
    ),
    "test_mfa.py": (
        "test_a_failing_mfa_process_names_the_setting",
        "test_a_wrong_code_is_a_clear_error_and_leaves_nothing_behind",
        "test_an_account_with_its_own_device_gets_its_own_session",
        "test_an_expired_mfa_session_asks_for_a_new_code",
        "test_cache_list_shows_the_mfa_session",
        "test_first_hop_from_the_mfa_session_is_not_role_chaining",
        "test_get_session_token_with_the_code_roots_the_chain",
        "test_one_code_serves_every_account",
        "test_prompt_on_the_controlling_terminal",
        "test_prompt_reaches_the_user_under_credential_process",
        "test_refresh_keeps_the_mfa_session",
        "test_the_code_is_never_logged",
        "test_twenty_parallel_processes_ask_for_one_code",
    ),
    "test_profiles.py": (
        "test_executable_path_with_spaces_is_quoted_and_works",
        "test_write_round_trip_keeps_every_other_byte",
    ),
    "test_properties.py": (
        "test_config_parser_fails_only_with_config_errors",
        "test_duration_never_crashes_on_text",
        "test_locate_finds_the_line_of_each_key",
    ),
    "test_secret_scan.py": (
        "test_a_failing_run_that_prints_a_secret_fails_through_run_credproc",
        "test_moto_s_own_record_of_issued_sessions_is_scanned",
    ),
    "test_source_import.py": (
        "test_import_moves_the_keys_and_the_chain_works_from_the_store",
        "test_import_of_a_profile_others_use_as_source_profile_needs_force",
    ),
    "test_source_identity.py": ("test_two_identities_never_share_a_session_and_one_identity_does",),
    "test_sts_options.py": (
        "test_a_source_identity_sets_the_hub_apart",
        "test_account_without_via_gets_source_identity_and_its_own_duration",
        "test_bad_option_names_file_line_and_key",
        "test_options_are_part_of_the_cache_key",
        "test_user_in_the_session_name_comes_from_the_environment_then_the_passwd_entry",
    ),
    "test_warm_imports.py": (
        "test_a_cold_fan_out_loads_botocore_once",
        "test_a_waiter_gives_up_on_a_claim_held_past_the_lock_timeout",
        "test_an_environment_change_is_never_missed_with_options",
        "test_auto_key_store_without_a_session_bus_does_not_ask_keyring",
        "test_config_option_is_remembered_and_every_edit_of_that_file_is_seen",
        "test_each_pure_option_is_remembered_and_a_changed_value_is_never_missed",
        "test_full_path_hit_parses_no_aws_file_until_one_changes",
        "test_full_path_loads_only_the_command_it_runs",
        "test_keyring_hit_loads_the_chosen_backend_without_probing_or_a_network_stack",
        "test_keyring_key_store_answer_reads_the_key_from_the_keychain",
        "test_large_config_errors_name_the_same_line_with_a_config_memo",
        "test_large_config_memo_follows_every_edit",
        "test_large_config_memo_moved_to_another_name_is_ignored",
        "test_refresh_no_cache_and_verbose_take_the_full_path",
        "test_remembered_answer_follows_cache_config_and_environment",
        "test_remembered_answer_tampered_or_expired_is_not_used",
        "test_repeated_get_is_answered_without_loading_credproc",
        "test_warm_hit_imports_nothing_the_miss_needs",
    ),
}


def markers_of(file_name: str, function_name: str) -> list[str]:
    """The tier markers of one test: its file's name and its function's name."""
    found = []
    if file_name in E2E_FILES or function_name in E2E_TESTS.get(file_name, ()):
        found.append("e2e")
    if file_name in SLOW_FILES or function_name in SLOW_TESTS.get(file_name, ()):
        found.append("slow")
    if file_name in NETWORK_FILES:
        found.append("network")
    return found


def listed(file_name: str) -> tuple[str, ...]:
    """The function names listed for one file (to check they still exist)."""
    return E2E_TESTS.get(file_name, ()) + SLOW_TESTS.get(file_name, ())
