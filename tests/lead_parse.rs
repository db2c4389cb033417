//! The strict lead parser (SPEC section 2): every rejection reason and its edges.
use leadrouter::lead::{DEFAULT_MAX_MESSAGE_BYTES, MAX_DEPTH, RejectReason, parse_lead};
use proptest::prelude::*;
use serde_json::json;

const MAX: usize = DEFAULT_MAX_MESSAGE_BYTES;

fn reject(body: &[u8]) -> leadrouter::lead::Rejection {
    match parse_lead(body, MAX) {
        Ok(lead) => panic!("expected a rejection, got lead {}", lead.id),
        Err(r) => r,
    }
}

fn reason(body: &str) -> RejectReason {
    reject(body.as_bytes()).reason
}

fn ok(body: &str) -> leadrouter::lead::Lead {
    match parse_lead(body.as_bytes(), MAX) {
        Ok(lead) => lead,
        Err(r) => panic!("expected {body:?} to parse, got {r}"),
    }
}

/// `levels` nested containers with the lead object at the top (depth 1).
fn nested(levels: usize, open: &str, close: &str) -> String {
    assert!(levels >= 1);
    let inner = levels - 1;
    format!(
        r#"{{"id":"x","deep":{}0{}}}"#,
        open.repeat(inner),
        close.repeat(inner)
    )
}

#[test]
fn minimal_lead_parses_and_keeps_payload() {
    let lead = ok(r#"{"id":"lead-1","price":450000,"attributes":{"budget":1.5},"tags":["a"]}"#);
    assert_eq!(lead.id.as_str(), "lead-1");
    assert_eq!(lead.received_at, None);
    assert_eq!(lead.payload["price"], json!(450000));
    assert_eq!(lead.get_path(&["attributes", "budget"]), Some(&json!(1.5)));
    assert_eq!(lead.get_path(&["tags", "0"]), Some(&json!("a")));
}

#[test]
fn full_lead_with_known_fields() {
    let lead = ok(r#"{
        "id": "L-42", "received_at": "2024-05-01T10:00:00+02:00", "source": "web_form",
        "agent_id": "alice", "region": "north",
        "contact": {"name": "Bo", "email": "bo@example.com", "phone": "+1 555", "extra": 1},
        "address": {"street": "1 Main", "city": "X", "state": "CA", "postal_code": "9",
                    "country": "US"}
    }"#);
    assert_eq!(
        lead.received_at.map(|t| t.to_rfc3339()),
        Some("2024-05-01T08:00:00+00:00".to_owned())
    );
    assert_eq!(lead.str_field("region"), Some("north"));
    assert_eq!(lead.get_path(&["contact", "extra"]), Some(&json!(1)));
}

#[test]
fn null_optional_fields_are_absent() {
    let lead = ok(
        r#"{"id":"a","received_at":null,"source":null,"agent_id":null,"region":null,
        "contact":null,"address":{"city":null}}"#,
    );
    assert_eq!(lead.received_at, None);
    // Still kept as sent.
    assert_eq!(lead.payload["source"], json!(null));
}

#[test]
fn too_large_is_checked_before_parsing() {
    // Not even UTF-8: size wins because it is checked first.
    let body = vec![0xffu8; 11];
    let r = parse_lead(&body, 10).unwrap_err();
    assert_eq!(r.reason, RejectReason::TooLarge);
    assert!(r.detail.contains("11 bytes"), "{}", r.detail);
    // Exactly at the limit is fine.
    let body = br#"{"id":"ab"}"#;
    assert!(parse_lead(body, body.len()).is_ok());
    assert_eq!(
        parse_lead(body, body.len() - 1).unwrap_err().reason,
        RejectReason::TooLarge
    );
}

#[test]
fn ten_megabyte_body() {
    let filler = "x".repeat(10 * 1024 * 1024);
    let body = format!(r#"{{"id":"big","filler":"{filler}"}}"#);
    assert_eq!(reject(body.as_bytes()).reason, RejectReason::TooLarge);
    // With a limit that admits it, it parses.
    let lead = parse_lead(body.as_bytes(), 16 * 1024 * 1024).expect("10 MB lead parses");
    assert_eq!(lead.str_field("filler").map(str::len), Some(filler.len()));
}

#[test]
fn invalid_utf8() {
    assert_eq!(
        reject(b"{\"id\":\"\xff\"}").reason,
        RejectReason::InvalidUtf8
    );
    assert_eq!(
        reject(b"{\"id\":\"\xc3\"}").reason,
        RejectReason::InvalidUtf8
    );
}

#[test]
fn invalid_json_reports_position() {
    for body in [
        "",
        " ",
        "{",
        r#"{"id":"a",}"#,
        r#"{"id":"a"} x"#,
        "{'id':'a'}",
        r#"{"id":"\ud800"}"#,
        "\u{feff}{\"id\":\"a\"}",
        "NaN",
        r#"{"id":01}"#,
    ] {
        let r = reject(body.as_bytes());
        assert_eq!(r.reason, RejectReason::InvalidJson, "{body:?}: {r}");
    }
    let r = reject(b"{\"id\":\"a\",\n  \"b\": tru}");
    assert!(r.detail.contains("line 2 column"), "{}", r.detail);
}

#[test]
fn not_an_object() {
    for body in ["[]", "1", "\"id\"", "null", "true", r#"[{"id":"a"}]"#] {
        let r = reject(body.as_bytes());
        assert_eq!(r.reason, RejectReason::NotAnObject, "{body}");
    }
}

#[test]
fn depth_64_ok_65_rejected() {
    assert_eq!(MAX_DEPTH, 64);
    ok(&nested(64, "[", "]"));
    ok(&nested(64, r#"{"a":"#, "}"));
    assert_eq!(reason(&nested(65, "[", "]")), RejectReason::TooDeep);
    assert_eq!(reason(&nested(65, r#"{"a":"#, "}")), RejectReason::TooDeep);
    // Mixed arrays and objects count alike.
    let mixed = |pairs: usize, extra: usize| {
        format!(
            r#"{{"id":"x","m":{}{}0{}{}}}"#,
            r#"[{"a":"#.repeat(pairs),
            "[".repeat(extra),
            "]".repeat(extra),
            "}]".repeat(pairs)
        )
    };
    ok(&mixed(31, 1)); // 1 + 62 + 1 = 64
    assert_eq!(reason(&mixed(32, 0)), RejectReason::TooDeep); // 1 + 64 = 65
}

#[test]
fn hostile_nesting_does_not_overflow_the_stack() {
    for open in ["[", "{\"a\":"] {
        let body = open.repeat(10_000);
        assert_eq!(reason(&body), RejectReason::TooDeep);
        let closed = format!(
            "{body}0{}",
            if open == "[" { "]" } else { "}" }.repeat(10_000)
        );
        assert_eq!(reason(&closed), RejectReason::TooDeep);
    }
    // Brackets inside strings are text, not nesting.
    ok(&format!(r#"{{"id":"a","s":"{}"}}"#, "[".repeat(10_000)));
}

#[test]
fn duplicate_keys_anywhere() {
    for body in [
        r#"{"id":"a","id":"b"}"#,
        r#"{"id":"a","x":1,"x":1}"#,
        r#"{"id":"a","c":{"n":1,"n":2}}"#,
        r#"{"id":"a","list":[1,{"k":1},[{"z":0,"z":0}]]}"#,
        // Same key after escapes resolve.
        r#"{"id":"a","\u0061b":1,"ab":2}"#,
    ] {
        let r = reject(body.as_bytes());
        assert_eq!(r.reason, RejectReason::DuplicateKey, "{body}: {r}");
        assert!(r.detail.contains("duplicate key"), "{}", r.detail);
    }
    // The same key in sibling objects is fine.
    ok(r#"{"id":"a","l":[{"k":1},{"k":2}]}"#);
}

#[test]
fn nul_characters() {
    for body in [
        r#"{"id":"a\u0000b"}"#,
        r#"{"id":"a","note":"x\u0000"}"#,
        r#"{"id":"a","k\u0000":1}"#,
        r#"{"id":"a","l":[{"deep":["\u0000"]}]}"#,
    ] {
        let r = reject(body.as_bytes());
        assert_eq!(r.reason, RejectReason::NulCharacter, "{body}: {r}");
    }
    // An escaped backslash followed by u0000 is just text.
    ok(r#"{"id":"a","s":"\\u0000"}"#);
}

#[test]
fn exact_numbers_are_accepted() {
    for n in [
        "1.10",
        "1e2",
        "0.1",
        "-0",
        "0",
        "-1.5e-7",
        "18446744073709551615",
        "-9223372036854775808",
        "1.7976931348623157e308",
        "100.0",
        "2E+3",
    ] {
        let lead = ok(&format!(r#"{{"id":"a","n":{n}}}"#));
        assert!(lead.payload["n"].is_number(), "{n}");
    }
    let lead = ok(r#"{"id":"a","n":1.10}"#);
    assert_eq!(lead.payload["n"].as_f64(), Some(1.1));
}

#[test]
fn inexact_numbers_are_rejected() {
    for n in [
        "3.141592653589793238",
        "1e400",
        "-1e400",
        "123456789012345678901234",
        "18446744073709551616",
        "-9223372036854775809",
        "1e-400",
        "0.30000000000000000001",
    ] {
        let body = format!(r#"{{"id":"a","nested":[{{"n":{n}}}]}}"#);
        let r = reject(body.as_bytes());
        assert_eq!(r.reason, RejectReason::InexactNumber, "{n}: {r}");
    }
    // Numbers inside strings are text.
    ok(r#"{"id":"a","n":"1e400"}"#);
    // Invalid JSON elsewhere still reads as invalid JSON, not as a bad number.
    assert_eq!(
        reason(r#"{"id":"a","n":3.141592653589793238,"#),
        RejectReason::InvalidJson
    );
}

#[test]
fn id_length_in_characters() {
    let id128 = "é".repeat(127) + "😀";
    assert_eq!(id128.chars().count(), 128);
    assert!(id128.len() > 128);
    let lead = ok(&format!(r#"{{"id":"{id128}"}}"#));
    assert_eq!(lead.id.as_str(), id128);
    let id129 = "é".repeat(129);
    let r = reject(format!(r#"{{"id":"{id129}"}}"#).as_bytes());
    assert_eq!(r.reason, RejectReason::InvalidId);
    assert!(r.detail.contains("129"), "{}", r.detail);
    ok(r#"{"id":"x"}"#);
}

#[test]
fn invalid_ids() {
    for body in [
        r#"{}"#,
        r#"{"id":""}"#,
        r#"{"id":null}"#,
        r#"{"id":7}"#,
        r#"{"id":["a"]}"#,
        r#"{"ID":"a"}"#,
    ] {
        assert_eq!(reason(body), RejectReason::InvalidId, "{body}");
    }
}

#[test]
fn wrong_field_types() {
    for body in [
        r#"{"id":"a","received_at":"yesterday"}"#,
        r#"{"id":"a","received_at":"2024-05-01"}"#,
        r#"{"id":"a","received_at":1714550400}"#,
        r#"{"id":"a","source":1}"#,
        r#"{"id":"a","agent_id":{}}"#,
        r#"{"id":"a","region":["north"]}"#,
        r#"{"id":"a","contact":"bo@example.com"}"#,
        r#"{"id":"a","contact":{"email":5}}"#,
        r#"{"id":"a","contact":{"phone":true}}"#,
        r#"{"id":"a","address":[]}"#,
        r#"{"id":"a","address":{"postal_code":12345}}"#,
    ] {
        let r = reject(body.as_bytes());
        assert_eq!(r.reason, RejectReason::WrongFieldType, "{body}: {r}");
        assert!(
            r.detail.contains('`'),
            "detail names the field: {}",
            r.detail
        );
    }
    let r = reject(br#"{"id":"a","address":{"postal_code":12345}}"#);
    assert!(r.detail.contains("address.postal_code"), "{}", r.detail);
}

#[test]
fn rejection_display_is_label_and_detail() {
    let r = reject(br#"{"id":"a","id":"a"}"#);
    assert!(r.to_string().starts_with("duplicate_key: "), "{r}");
}

#[test]
fn random_bytes_never_panic() {
    // A fixed xorshift sequence, so a failure is reproducible.
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    for len in 0..2000usize {
        let body: Vec<u8> = (0..len % 300)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state & 0xff) as u8
            })
            .collect();
        let _ = parse_lead(&body, MAX);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_bytes_never_panic(body in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = parse_lead(&body, MAX);
    }

    #[test]
    fn jsonish_text_never_panics(body in r#"[\{\}\[\]":, 0-9eE.+\-a-z\\u]{0,200}"#) {
        let _ = parse_lead(body.as_bytes(), MAX);
    }

    #[test]
    fn jsonish_objects_never_panic(inner in r#"[\{\}\[\]":, 0-9eE.+\-idnul\\]{0,120}"#) {
        let body = format!(r#"{{"id":"p",{inner}}}"#);
        let _ = parse_lead(body.as_bytes(), MAX);
    }

    #[test]
    fn finite_floats_round_trip(x in any::<f64>().prop_filter("finite", |x| x.is_finite())) {
        let body = format!(r#"{{"id":"f","n":{}}}"#, serde_json::to_string(&x).unwrap());
        let lead = parse_lead(body.as_bytes(), MAX);
        prop_assert!(lead.is_ok(), "{body}: {:?}", lead.err());
        let lead = lead.unwrap();
        prop_assert_eq!(lead.payload["n"].as_f64(), Some(x));
    }
}
