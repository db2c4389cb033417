//! Values read the same way from the file and the environment; how they are shown.
use super::*;

/// One rule for the file and the environment: choices in any case, booleans as
/// true/false, yes/no, on/off, 1/0 in any case, nothing else.
#[test]
fn file_and_environment_read_values_the_same_way() {
    let from_file = |key: &str, value: &str| {
        let (section, name) = key.split_once('.').unwrap();
        load_file(&format!("{section}:\n  {name}: {value}\n")).map_err(|e| e.to_string())
    };
    let from_env = |key: &str, value: &str| {
        Config::load_with_env(None, env(&[(keys::env_var(key).as_str(), value)]))
            .map_err(|e| e.to_string())
    };
    for (value, expected) in [
        ("json", Some(LogFormat::Json)),
        ("JSON", Some(LogFormat::Json)),
        ("Text", Some(LogFormat::Text)),
        ("xml", None),
    ] {
        for got in [
            from_file("logging.format", value),
            from_env("logging.format", value),
        ] {
            assert_eq!(got.ok().map(|c| c.logging.format), expected, "{value}");
        }
    }
    for (value, expected) in [
        ("true", Some(true)),
        ("False", Some(false)),
        ("yes", Some(true)),
        ("NO", Some(false)),
        ("on", Some(true)),
        ("off", Some(false)),
        ("1", Some(true)),
        ("0", Some(false)),
        ("2", None),
        ("maybe", None),
    ] {
        for got in [
            from_file("rules.watch", value),
            from_env("rules.watch", value),
        ] {
            assert_eq!(got.ok().map(|c| c.rules.watch), expected, "{value}");
        }
    }
    // Numbers and strings: "123" is a fine queue name from either.
    for got in [
        from_file("amqp.queue", "123"),
        from_env("amqp.queue", "123"),
    ] {
        assert_eq!(got.unwrap().amqp.queue, "123");
    }
    for got in [
        from_file("amqp.prefetch", "70000"),
        from_env("amqp.prefetch", "70000"),
    ] {
        let e = got.unwrap_err();
        assert!(e.contains("amqp.prefetch"), "{e}");
    }
}

#[test]
fn durations_from_file_and_env_use_humantime_and_refuse_bare_numbers() {
    let (_dir, path) = write_config("alerts:\n  unassigned_after: 1h 30m\n  sweep_every: 5\n");
    let e = Config::load_with_env(Some(&path), no_env())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("alerts.sweep_every") && e.contains("bare number"),
        "{e}"
    );
    let c = Config::load_with_env(
        Some(&path),
        env(&[("LEADROUTER_ALERTS__SWEEP_EVERY", "2m")]),
    )
    .unwrap();
    assert_eq!(c.alerts.unassigned_after, Duration::from_secs(5400));
    assert_eq!(c.alerts.sweep_every, Duration::from_secs(120));
    assert!(c.to_string().contains("unassigned_after: 1h30m"), "{c}");
}

#[test]
fn debug_and_display_redact_passwords() {
    let c = Config::load_with_env(
        None,
        env(&[
            ("AMQP_URL", "amqp://svc:s3cret@mq:5672/%2f"),
            ("DATABASE_URL", "postgres://app:pa55@db:5432/lr"),
        ]),
    )
    .unwrap();
    for text in [format!("{c:?}"), c.to_string()] {
        assert!(!text.contains("s3cret"), "{text}");
        assert!(!text.contains("pa55"), "{text}");
        assert!(text.contains("svc:***@mq"), "{text}");
        assert!(text.contains("app:***@db"), "{text}");
    }
    // Display is YAML the loader reads back (with redacted URLs).
    let back = Config::from_yaml(&c.to_string()).unwrap();
    assert_eq!(back.alerts, c.alerts);
    assert_eq!(back.http, c.http);
}

#[test]
fn validate_checks_a_config_built_by_hand() {
    assert!(Config::default().validate().is_ok());
    let mut c = Config::default();
    c.alerts.sweep_every = Duration::ZERO;
    let e = c.validate().unwrap_err().to_string();
    assert!(e.contains("alerts.sweep_every"), "{e}");
}
