//! The file: values, defaults, unknown keys, bad values, relative paths.
use super::*;

#[test]
fn defaults_match_the_spec() {
    let c = Config::load_with_env(None, no_env()).unwrap();
    assert_eq!(c.amqp.url.expose(), "amqp://guest:guest@127.0.0.1:5672/%2f");
    assert_eq!(c.amqp.queue, "leads.inbound");
    assert_eq!(c.amqp.dead_letter_queue, "leads.dead");
    assert_eq!(c.amqp.events_exchange, "leads.events");
    assert_eq!(c.amqp.prefetch, 512);
    assert_eq!(c.amqp.max_message_bytes, 262_144);
    assert_eq!(
        c.database.url.expose(),
        "postgres://postgres@127.0.0.1:5432/leadrouter"
    );
    assert_eq!(c.rules.path, PathBuf::from("rules/routing.yaml"));
    assert!(c.rules.watch);
    assert_eq!(
        c.http.listen,
        "127.0.0.1:9464".parse::<SocketAddr>().unwrap()
    );
    assert_eq!(c.alerts.unassigned_after, Duration::from_secs(86_400));
    assert_eq!(c.alerts.sweep_every, Duration::from_secs(60));
    assert_eq!(c.logging.format, LogFormat::Text);
    assert_eq!(c.logging.level, "info");
}

#[test]
fn file_values_and_partial_sections() {
    let (dir, path) = write_config(
        "amqp:\n  prefetch: 64\n  queue: q.in\nalerts:\n  unassigned_after: 2h\n  sweep_every: 500ms\nlogging: {format: json, level: debug}\n",
    );
    let c = Config::load_with_env(Some(&path), no_env()).unwrap();
    // Unset keys keep their default.
    let expected = Config {
        amqp: AmqpConfig {
            prefetch: 64,
            queue: "q.in".into(),
            ..Default::default()
        },
        rules: RulesConfig {
            path: dir.path().join("rules/routing.yaml"),
            ..Default::default()
        },
        alerts: AlertsConfig {
            unassigned_after: Duration::from_secs(7200),
            sweep_every: Duration::from_millis(500),
        },
        logging: LoggingConfig {
            format: LogFormat::Json,
            level: "debug".into(),
        },
        ..Default::default()
    };
    assert_eq!(c, expected);
}

#[test]
fn empty_file_means_defaults() {
    let c = load_file("# nothing here\n").unwrap();
    assert_eq!(c.amqp.prefetch, 512);
}

#[test]
fn unknown_keys_are_refused_with_their_path() {
    let e = file_error("amqp:\n  prefech: 10\n");
    assert!(e.contains("prefech"), "{e}");
    assert!(e.contains("leadrouter.yaml"), "{e}");
    let e = file_error("amqps:\n  url: x\n");
    assert!(e.contains("amqps"), "{e}");
}

#[test]
fn unknown_file_keys_are_named_in_full_with_the_keys_they_could_be() {
    let e = load_file("amqp:\n  prefech: 10\n").unwrap_err();
    assert!(matches!(e, ConfigError::UnknownKey { .. }), "{e}");
    let e = e.to_string();
    assert!(e.contains("`amqp.prefech`"), "{e}");
    assert!(e.contains("amqp.prefetch"), "the near keys are listed: {e}");

    // An unknown key deeper than a known leaf, and an unknown empty section.
    for text in ["amqp:\n  url:\n    host: x\n", "nope: {}\n"] {
        let e = load_file(text).unwrap_err();
        assert!(
            matches!(
                e,
                ConfigError::UnknownKey { .. } | ConfigError::Invalid { .. }
            ),
            "{text:?}: {e}"
        );
    }
}

#[test]
fn a_file_that_is_not_a_map_of_sections_is_refused() {
    for text in ["- 1\n", "amqp: [\n", "amqp: 5\n"] {
        let e = file_error(text);
        assert!(e.contains("leadrouter.yaml"), "{text:?}: {e}");
    }
}

#[test]
fn bad_file_values_name_the_key() {
    for (text, key, also) in [
        ("amqp:\n  prefetch: lots\n", "amqp.prefetch", ""),
        (
            "alerts:\n  sweep_every: ten minutes\n",
            "alerts.sweep_every",
            "",
        ),
        ("http:\n  listen: localhost\n", "http.listen", ""),
        ("amqp:\n  prefetch: 0\n", "amqp.prefetch", "at least 1"),
        (
            "amqp:\n  prefetch: 64\n  batch_size: 128\n",
            "amqp.batch_size",
            "amqp.prefetch (64)",
        ),
        (
            "amqp:\n  max_message_bytes: 0\n",
            "amqp.max_message_bytes",
            "",
        ),
        ("logging:\n  format: xml\n", "logging.format", ""),
    ] {
        let e = file_error(text);
        assert!(e.contains(key) && e.contains(also), "{text:?}: {e}");
        assert!(
            !e.contains("LEADROUTER_"),
            "a file value is not blamed on the env: {e}"
        );
    }
}

#[test]
fn bad_file_values_name_the_file_not_a_variable() {
    let (_dir, path) = write_config("amqp:\n  prefetch: many\n");
    let e = Config::load_with_env(Some(&path), no_env()).unwrap_err();
    let ConfigError::Invalid { key, origin, .. } = &e else {
        panic!("{e}")
    };
    assert_eq!(key, "amqp.prefetch");
    assert_eq!(origin, &Origin::File(path.clone()));
    // The same key set by a variable is blamed on the variable.
    let e =
        Config::load_with_env(Some(&path), env(&[("LEADROUTER_AMQP__PREFETCH", "x")])).unwrap_err();
    let ConfigError::Invalid { origin, .. } = &e else {
        panic!("{e}")
    };
    assert_eq!(origin, &Origin::Env("LEADROUTER_AMQP__PREFETCH".into()));
}

#[test]
fn missing_file_is_a_read_error() {
    let e = Config::load_with_env(Some(Path::new("/nonexistent/leadrouter.yaml")), no_env())
        .unwrap_err();
    assert!(matches!(e, ConfigError::Read { .. }), "{e}");
}

#[test]
fn batch_size_defaults_to_half_the_prefetch_window() {
    let c = load_file("amqp:\n  prefetch: 300\n").unwrap();
    assert_eq!(c.amqp.effective_batch_size(), 150);
    let c = load_file("amqp:\n  prefetch: 1\n").unwrap();
    assert_eq!(c.amqp.effective_batch_size(), 1);
    let env = env(&[("LEADROUTER_AMQP__BATCH_SIZE", "512")]);
    let c = Config::load_with_env(None, env).unwrap();
    assert_eq!(c.amqp.effective_batch_size(), 512);
}

#[test]
fn relative_rules_path_is_relative_to_the_config_file() {
    let (dir, path) = write_config("rules:\n  path: r/routing.yaml\n");
    let c = Config::load_with_env(Some(&path), no_env()).unwrap();
    assert_eq!(c.rules.path, dir.path().join("r/routing.yaml"));

    // The default too, when a file is given.
    let (dir, path) = write_config("{}\n");
    let c = Config::load_with_env(Some(&path), no_env()).unwrap();
    assert_eq!(c.rules.path, dir.path().join("rules/routing.yaml"));

    // Absolute paths stay.
    let c = load_file("rules:\n  path: /etc/lr/rules.yaml\n").unwrap();
    assert_eq!(c.rules.path, PathBuf::from("/etc/lr/rules.yaml"));

    // The env gives a path relative to the working directory.
    let (_dir, path) = write_config("{}\n");
    let c =
        Config::load_with_env(Some(&path), env(&[("LEADROUTER_RULES__PATH", "x/y.yaml")])).unwrap();
    assert_eq!(c.rules.path, PathBuf::from("x/y.yaml"));
}
