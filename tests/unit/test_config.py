"""Configuration: Judge0's variables and parsing rules (§12), config_info (§10.4, §15 item 28)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from judge.config import Config, ConfigError, read_conf_file

# §10.4, verbatim: the body of GET /config_info with Judge0's defaults (master).
JUDGE0_CONFIG_INFO = json.loads("""
{
  "maintenance_mode": false,
  "enable_wait_result": true,
  "enable_compiler_options": true,
  "allowed_languages_for_compile_options": [],
  "enable_command_line_arguments": true,
  "enable_submission_delete": false,
  "enable_callbacks": true,
  "callbacks_max_tries": 3,
  "callbacks_timeout": 5.0,
  "enable_additional_files": true,
  "max_queue_size": 100,
  "cpu_time_limit": 5.0,
  "max_cpu_time_limit": 15.0,
  "cpu_extra_time": 1.0,
  "max_cpu_extra_time": 5.0,
  "wall_time_limit": 10.0,
  "max_wall_time_limit": 20.0,
  "memory_limit": 128000,
  "max_memory_limit": 512000,
  "stack_limit": 64000,
  "max_stack_limit": 128000,
  "max_processes_and_or_threads": 60,
  "max_max_processes_and_or_threads": 120,
  "enable_per_process_and_thread_time_limit": false,
  "allow_enable_per_process_and_thread_time_limit": true,
  "enable_per_process_and_thread_memory_limit": false,
  "allow_enable_per_process_and_thread_memory_limit": true,
  "max_file_size": 1024,
  "max_max_file_size": 4096,
  "number_of_runs": 1,
  "max_number_of_runs": 20,
  "redirect_stderr_to_stdout": false,
  "max_extract_size": 10240,
  "enable_batched_submissions": true,
  "max_submission_batch_size": 20,
  "submission_cache_duration": 1.0,
  "use_docs_as_homepage": false,
  "allow_enable_network": false,
  "enable_network": false,
  "disable_implicit_base64_encoding": false
}
""")


def _typed_items(info: dict) -> list[tuple[str, object, type]]:
    return [(key, value, type(value)) for key, value in info.items()]


class TestConfigInfo:
    def test_judge0_master_defaults_reproduce_the_reference_body_keys_order_and_types(self) -> None:
        info = Config.load(environ={"DISABLE_IMPLICIT_BASE64_ENCODING": "false"}).config_info()
        assert _typed_items(info) == _typed_items(JUDGE0_CONFIG_INFO)

    def test_our_default_differs_only_in_disable_implicit_base64_encoding(self, config: Config) -> None:
        expected = {**JUDGE0_CONFIG_INFO, "disable_implicit_base64_encoding": True}
        assert _typed_items(config.config_info()) == _typed_items(expected)

    def test_floats_stay_floats_even_when_configured_as_integers(self) -> None:
        info = Config.load(environ={"CPU_TIME_LIMIT": "3", "CALLBACKS_TIMEOUT": "2"}).config_info()
        assert info["cpu_time_limit"] == 3.0 and isinstance(info["cpu_time_limit"], float)
        assert json.dumps(info["callbacks_timeout"]) == "2.0"

    def test_allowed_languages_key_is_spelled_compile_and_holds_a_list(self) -> None:
        info = Config.load(environ={"ALLOWED_LANGUAGES_FOR_COMPILER_OPTIONS": "C C++  Java"}).config_info()
        assert info["allowed_languages_for_compile_options"] == ["C", "C++", "Java"]
        assert "allowed_languages_for_compiler_options" not in info


class TestParsingRules:
    @pytest.mark.parametrize(("raw", "enabled"), [
        ("true", True), ("True", False), ("TRUE", False), ("1", False), ("yes", False), ("", False),
    ])
    def test_a_default_false_switch_is_enabled_only_by_the_exact_string_true(self, raw: str, enabled: bool) -> None:
        assert Config.load(environ={"MAINTENANCE_MODE": raw}).maintenance_mode is enabled

    @pytest.mark.parametrize(("raw", "enabled"), [
        ("false", False), ("False", True), ("FALSE", True), ("0", True), ("no", True), ("", True),
    ])
    def test_a_default_true_switch_is_disabled_only_by_the_exact_string_false(self, raw: str, enabled: bool) -> None:
        assert Config.load(environ={"ENABLE_WAIT_RESULT": raw}).enable_wait_result is enabled

    def test_disable_implicit_base64_encoding_defaults_to_true_and_only_false_turns_it_off(self) -> None:
        assert Config.load(environ={}).disable_implicit_base64_encoding is True
        assert Config.load(environ={"DISABLE_IMPLICIT_BASE64_ENCODING": "0"}).disable_implicit_base64_encoding
        assert not Config.load(environ={"DISABLE_IMPLICIT_BASE64_ENCODING": "false"}).disable_implicit_base64_encoding

    @pytest.mark.parametrize(("raw", "value"), [
        ("50", 50), ("50abc", 50), ("abc", 0), ("", 100), ("   ", 100), (" 7", 7), ("-3", -3), ("2.9", 2),
    ])
    def test_integers_use_ruby_to_i_and_the_default_only_when_blank(self, raw: str, value: int) -> None:
        assert Config.load(environ={"MAX_QUEUE_SIZE": raw}).max_queue_size == value

    @pytest.mark.parametrize(("raw", "value"), [
        ("2.5", 2.5), ("3", 3.0), ("1.5s", 1.5), ("abc", 0.0), ("", 5.0), (".5", 0.5),
    ])
    def test_floats_use_ruby_to_f_and_the_default_only_when_blank(self, raw: str, value: float) -> None:
        parsed = Config.load(environ={"CPU_TIME_LIMIT": raw}).cpu_time_limit
        assert parsed == value and isinstance(parsed, float)

    def test_lists_are_split_on_any_whitespace(self) -> None:
        config = Config.load(environ={"AUTHN_TOKEN": " a\tb \n c ", "ALLOW_IP": ""})
        assert config.authn_token == ("a", "b", "c")
        assert config.allow_ip == ()

    def test_blank_text_takes_the_default(self) -> None:
        config = Config.load(environ={"MAINTENANCE_MESSAGE": "", "AUTHN_HEADER": "X-Key"})
        assert config.maintenance_message == "Judge0 is currently in maintenance."
        assert config.authn_header == "X-Key"

    def test_secrets_are_kept_out_of_repr(self) -> None:
        config = Config.load(environ={"AUTHN_TOKEN": "s3cret", "POSTGRES_PASSWORD": "pg-s3cret",
                                      "DATABASE_URL": "postgresql://u:hunter2@db/x"})
        assert not any(secret in repr(config) for secret in ("s3cret", "hunter2"))


class TestDefaults:
    def test_judge0_and_our_defaults(self, config: Config) -> None:
        assert config.maintenance_message == "Judge0 is currently in maintenance."
        assert config.authn_header == "X-Auth-Token" and config.authz_header == "X-Auth-User"
        assert config.authn_token == () and config.authz_token == ()
        assert config.max_submission_batch_size == 20 and config.callbacks_max_tries == 3
        assert config.interval == 0.1 and config.count >= 2
        assert config.port == 2358 and config.judge0_version == "1.14.0"
        assert config.homepage == "https://judge0.com"
        assert config.source_code == "https://github.com/judge0/judge0"
        assert config.maintainer == "Herman Zvonimir Došilović <hermanz.dosilovic@gmail.com>"
        assert config.database_url == "postgresql://judge:judge@127.0.0.1:5432/judge"
        assert config.redis_url == "redis://127.0.0.1:6379/0"
        assert config.max_request_body == 10 * 1024 * 1024
        assert config.wait_timeout == 60.0
        assert config.sandbox_boxes_dir == "/var/lib/judge/boxes"
        assert config.sandbox_first_uid == 60000
        assert config.hostname

    def test_hostname_comes_from_the_environment_when_set(self) -> None:
        assert Config.load(environ={"HOSTNAME": "api-1"}).hostname == "api-1"

    def test_config_is_immutable(self, config: Config) -> None:
        with pytest.raises(AttributeError):
            config.port = 1  # type: ignore[misc]


class TestConnectionUrls:
    def test_explicit_urls_win_over_judge0_variables(self) -> None:
        config = Config.load(environ={"DATABASE_URL": "postgresql:///x", "POSTGRES_HOST": "db",
                                      "REDIS_URL": "redis://r/2", "REDIS_HOST": "redis"})
        assert config.database_url == "postgresql:///x"
        assert config.redis_url == "redis://r/2"

    def test_database_url_is_built_from_judge0_postgres_variables(self) -> None:
        config = Config.load(environ={"POSTGRES_HOST": "db", "POSTGRES_DB": "judge0",
                                      "POSTGRES_USER": "judge0", "POSTGRES_PASSWORD": "p@ss:w/rd"})
        assert config.database_url == "postgresql://judge0:p%40ss%3Aw%2Frd@db:5432/judge0"

    def test_missing_postgres_parts_take_judge0_defaults(self) -> None:
        config = Config.load(environ={"POSTGRES_PASSWORD": "pw"})
        assert config.database_url == "postgresql://postgres:pw@localhost:5432/postgres"

    def test_redis_url_is_built_from_judge0_redis_variables(self) -> None:
        assert Config.load(environ={"REDIS_HOST": "redis", "REDIS_PASSWORD": "pw"}).redis_url == \
            "redis://:pw@redis:6379/0"
        assert Config.load(environ={"REDIS_PORT": "6380"}).redis_url == "redis://localhost:6380/0"


class TestConfFile:
    def test_reads_judge0_conf_syntax(self, tmp_path: Path) -> None:
        conf = tmp_path / "judge0.conf"
        conf.write_text(
            "# Judge0 configuration\n"
            "\n"
            "MAX_QUEUE_SIZE=42\n"
            "MAINTENANCE_MESSAGE=\"Back soon # really\"\n"
            "AUTHN_TOKEN='a b'\n"
            "export ENABLE_CALLBACKS=false\n"
            "CPU_TIME_LIMIT=2 # seconds\n"
            "REDIS_PASSWORD=\n",
            encoding="utf-8")
        assert read_conf_file(conf) == {
            "MAX_QUEUE_SIZE": "42", "MAINTENANCE_MESSAGE": "Back soon # really",
            "AUTHN_TOKEN": "a b", "ENABLE_CALLBACKS": "false", "CPU_TIME_LIMIT": "2",
            "REDIS_PASSWORD": "",
        }
        config = Config.load(environ={}, conf_file=conf)
        assert config.max_queue_size == 42 and config.authn_token == ("a", "b")
        assert config.enable_callbacks is False and config.cpu_time_limit == 2.0
        assert config.redis_password is None

    def test_environment_overrides_the_file(self, tmp_path: Path) -> None:
        conf = tmp_path / "judge0.conf"
        conf.write_text("MAX_QUEUE_SIZE=42\nMAX_FILE_SIZE=2048\n", encoding="utf-8")
        config = Config.load(environ={"MAX_QUEUE_SIZE": "7"}, conf_file=conf)
        assert config.max_queue_size == 7 and config.max_file_size == 2048

    def test_file_path_can_come_from_judge0_conf_variable(self, tmp_path: Path) -> None:
        conf = tmp_path / "judge0.conf"
        conf.write_text("ENABLE_SUBMISSION_DELETE=true\n", encoding="utf-8")
        assert Config.load(environ={"JUDGE0_CONF": str(conf)}).enable_submission_delete

    def test_unreadable_or_malformed_files_are_reported_with_their_path(self, tmp_path: Path) -> None:
        with pytest.raises(ConfigError, match="missing.conf"):
            Config.load(environ={}, conf_file=tmp_path / "missing.conf")
        bad = tmp_path / "bad.conf"
        bad.write_text("NOT A VARIABLE\n", encoding="utf-8")
        with pytest.raises(ConfigError, match=r"bad.conf:1"):
            read_conf_file(bad)
