"""The configuration file parsers: login.defs, key = value files, PAM stacks."""

from __future__ import annotations

from controlplane.compliance.parsers import pam_words, parse_key_values, parse_login_defs, parse_pam


def test_login_defs_ignores_commented_values_and_the_last_value_wins() -> None:
    text = "# PASS_MAX_DAYS 30\nPASS_MAX_DAYS\t99999\n  #PASS_MIN_DAYS 7\nPASS_MAX_DAYS 90 # site policy\nUMASK 027\n"
    values = parse_login_defs(text)
    assert values["PASS_MAX_DAYS"] == "90"
    assert "PASS_MIN_DAYS" not in values
    assert values["UMASK"] == "027"


def test_key_value_files_read_spaced_pairs_and_bare_flags() -> None:
    values = parse_key_values("# deny = 3\ndeny=5\n unlock_time = 900 \neven_deny_root\n")
    assert values == {"deny": "5", "unlock_time": "900", "even_deny_root": ""}


def test_pam_words_keep_bracketed_controls_and_arguments_with_spaces_together() -> None:
    line = "auth [success=1 default=ignore] pam_sss.so [query=select x from y where a=\\]b] use_first_pass"
    assert pam_words(line) == [
        "auth",
        "[success=1 default=ignore]",
        "pam_sss.so",
        "[query=select x from y where a=]b]",
        "use_first_pass",
    ]


def test_pam_rules_skip_comments_includes_and_join_continued_lines() -> None:
    text = (
        "# comment\n@include common-auth\n"
        "-auth  [default=die]  /lib/x86_64-linux-gnu/security/pam_faillock.so authfail \\\n"
        "   deny=4 unlock_time=900  # trailing comment\n"
        "auth required pam_permit.so\n"
    )
    rules = parse_pam(text)
    assert [rule.module_name for rule in rules] == ["pam_faillock.so", "pam_permit.so"]
    faillock = rules[0]
    assert faillock.kind == "auth" and faillock.control == "[default=die]" and faillock.line == 3
    assert faillock.option("deny") == "4" and faillock.option("authfail") == "" and faillock.option("audit") is None


def test_a_pam_option_given_twice_takes_its_last_value() -> None:
    (rule,) = parse_pam("password requisite pam_pwquality.so minlen=8 retry=3 minlen=14\n")
    assert rule.option("minlen") == "14"
