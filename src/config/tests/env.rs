//! The environment: overrides, the short URL names, unknown variables, bad values.
use super::*;

#[test]
fn env_overrides_win_over_the_file() {
    let (_dir, path) = write_config("amqp:\n  prefetch: 64\nrules:\n  watch: true\n");
    let c = Config::load_with_env(
        Some(&path),
        env(&[
            ("LEADROUTER_AMQP__PREFETCH", "8"),
            ("LEADROUTER_RULES__WATCH", "false"),
            ("LEADROUTER_HTTP__LISTEN", "0.0.0.0:9000"),
            ("LEADROUTER_ALERTS__UNASSIGNED_AFTER", "90m"),
            ("LEADROUTER_LOGGING__FORMAT", "JSON"),
            ("AMQP_URL", "amqp://u:p@broker:5672/%2f"),
            ("DATABASE_URL", "postgres://app:pw@db/leads"),
            ("PATH", "/usr/bin"),
            ("LEADROUTER_CONFIG", "ignored: no `__`, not a key"),
        ]),
    )
    .unwrap();
    assert_eq!(c.amqp.prefetch, 8);
    assert!(!c.rules.watch);
    assert_eq!(c.http.listen, "0.0.0.0:9000".parse::<SocketAddr>().unwrap());
    assert_eq!(c.alerts.unassigned_after, Duration::from_secs(5400));
    assert_eq!(c.logging.format, LogFormat::Json);
    assert_eq!(c.amqp.url.expose(), "amqp://u:p@broker:5672/%2f");
    assert_eq!(c.database.url.expose(), "postgres://app:pw@db/leads");
}

#[test]
fn prefixed_url_var_wins_over_the_short_one() {
    let c = Config::load_with_env(
        None,
        env(&[
            ("LEADROUTER_DATABASE__URL", "postgres://a@x/one"),
            ("DATABASE_URL", "postgres://b@y/two"),
        ]),
    )
    .unwrap();
    assert_eq!(c.database.url.expose(), "postgres://a@x/one");
}

#[test]
fn unknown_env_key_is_an_error_naming_it() {
    let e = Config::load_with_env(None, env(&[("LEADROUTER_AMQP__PREFECH", "1")])).unwrap_err();
    assert!(matches!(e, ConfigError::UnknownEnv { .. }));
    assert!(e.to_string().contains("LEADROUTER_AMQP__PREFECH"), "{e}");

    let e = Config::load_with_env(None, env(&[("LEADROUTER_NOPE__X", "1")])).unwrap_err();
    assert!(e.to_string().contains("LEADROUTER_NOPE__X"), "{e}");
}

#[test]
fn bad_env_values_name_key_and_var() {
    let bad: &[(&str, &[&str])] = &[
        ("amqp.prefetch", &["many", "0", "70000"]),
        ("rules.watch", &["maybe"]),
        ("http.listen", &["nowhere"]),
        ("alerts.sweep_every", &["0s", "5"]),
        ("logging.format", &["xml"]),
        ("amqp.queue", &[""]),
    ];
    let by_var = bad
        .iter()
        .flat_map(|(key, values)| values.iter().map(|v| (keys::env_var(key), *v, *key)));
    // URLs the clients cannot use, refused without showing the password.
    let urls = [
        ("AMQP_URL", "guest:hunter2@host", "amqp.url"),
        ("AMQP_URL", "amqp://guest:hunter2@host:port/%2f", "amqp.url"),
        ("AMQP_URL", "http://guest:hunter2@host/", "amqp.url"),
        (
            "DATABASE_URL",
            "postgres://app:hunter2@db:nope/x",
            "database.url",
        ),
    ]
    .map(|(var, url, key)| (var.to_owned(), url, key));
    for (var, val, key) in by_var.chain(urls) {
        let e = env_error(&[(&var, val)]);
        assert!(e.contains(key), "{var}={val}: {e}");
        assert!(e.contains(&var), "{var}={val}: {e}");
        assert!(!e.contains("hunter2"), "{var}={val}: {e}");
    }
}

#[test]
fn bad_url_schemes_are_refused_without_leaking_the_password() {
    let e = env_error(&[("DATABASE_URL", "mysql://root:hunter2@db/x")]);
    assert!(e.contains("database.url"), "{e}");
    assert!(!e.contains("hunter2"), "{e}");
}

#[test]
fn keys_with_underscores_map_from_their_variables() {
    let c = Config::load_with_env(
        None,
        env(&[
            ("LEADROUTER_AMQP__DEAD_LETTER_QUEUE", "dlq"),
            ("leadrouter_amqp__max_message_bytes", "1024"),
        ]),
    )
    .unwrap();
    assert_eq!(c.amqp.dead_letter_queue, "dlq");
    assert_eq!(c.amqp.max_message_bytes, 1024);
}

#[test]
fn one_key_set_by_two_spellings_is_refused() {
    let e = env_error(&[
        ("LEADROUTER_AMQP__QUEUE", "a"),
        ("leadrouter_amqp__queue", "b"),
    ]);
    assert!(e.contains("amqp.queue") && e.contains("set it once"), "{e}");
}

#[test]
fn a_value_that_is_not_utf8_names_its_variable() {
    use std::os::unix::ffi::OsStringExt;
    let e = Config::load_with_env(
        None,
        [(
            std::ffi::OsString::from("LEADROUTER_AMQP__QUEUE"),
            std::ffi::OsString::from_vec(vec![0xff, b'q']),
        )],
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("LEADROUTER_AMQP__QUEUE") && e.contains("UTF-8"),
        "{e}"
    );
}

#[test]
fn names_longer_than_amqp_allows_are_refused() {
    let long = "q".repeat(256);
    let e = env_error(&[("LEADROUTER_AMQP__EVENTS_EXCHANGE", &long)]);
    assert!(
        e.contains("amqp.events_exchange") && e.contains("255"),
        "{e}"
    );
}

#[test]
fn logging_level_must_be_a_valid_filter() {
    let c = Config::load_with_env(
        None,
        env(&[("LEADROUTER_LOGGING__LEVEL", "info,leadrouter=debug")]),
    )
    .unwrap();
    assert_eq!(c.logging.level, "info,leadrouter=debug");
    let e =
        Config::load_with_env(None, env(&[("LEADROUTER_LOGGING__LEVEL", "info,=[")])).unwrap_err();
    assert!(e.to_string().contains("logging.level"), "{e}");
}
