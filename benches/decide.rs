//! Decisions per second on one core: the sample rules (YAML-only and with their Rhai
//! `when_script`), and a generated 200-rule file. `cargo bench --bench decide`.
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use leadrouter::lead::{DEFAULT_MAX_MESSAGE_BYTES, Lead, parse_lead};
use leadrouter::routing::{MemoryState, decide};
use leadrouter::rules::Ruleset;
use std::hint::black_box;
use std::path::Path;

fn sample_leads() -> Vec<Lead> {
    include_str!("../rules/samples/leads.jsonl")
        .lines()
        .map(|l| parse_lead(l.as_bytes(), DEFAULT_MAX_MESSAGE_BYTES).expect("sample lead"))
        .collect()
}

/// The sample rules without their Rhai rules (`when_script` and `script`).
fn yaml_only_sample() -> Ruleset {
    let src = std::fs::read_to_string("rules/routing.yaml").unwrap();
    let mut doc: serde_yaml::Value = serde_yaml::from_str(&src).unwrap();
    let rules = doc
        .get_mut("rules")
        .and_then(|r| r.as_sequence_mut())
        .unwrap();
    rules.retain(|r| r.get("when_script").is_none() && r.get("script").is_none());
    let text = serde_yaml::to_string(&doc).unwrap();
    Ruleset::from_source(&text, Path::new("rules/routing.yaml"))
        .unwrap()
        .ruleset
}

/// 200 rules of mixed conditions; most leads try most of them.
fn generated_200() -> (Ruleset, Vec<Lead>) {
    let mut y = String::from(
        "regions:\n  west: {states: [CA, OR, WA]}\n  east: {states: [NY, NJ], postal_prefixes: [\"07\"]}\npools:\n  p: {strategy: round_robin, members: [a, b, c, d]}\n  w: {strategy: weighted, members: [{agent: e, weight: 2}, {agent: f, weight: 1}]}\n  l: {strategy: least_loaded, members: [g, h]}\nrules:\n",
    );
    for i in 0..199 {
        let assign = match i % 4 {
            0 => "{pool: p}".to_owned(),
            1 => "{pool: w}".to_owned(),
            2 => "{pool: l}".to_owned(),
            _ => format!("{{queue: q{i}}}"),
        };
        let when = match i % 5 {
            0 => format!("{{source: src{i}, region: west}}"),
            1 => format!(
                "{{price: {{gte: {}, lt: {}}}, contact.email: {{contains: \"@corp{i}\"}}}}",
                i * 1000,
                i * 1000 + 500
            ),
            2 => format!(
                "{{any: [{{attributes.campaign: c{i}}}, {{contact.name: {{prefix: \"VIP{i}\"}}}}]}}"
            ),
            3 => format!("{{address.city: {{in: [City{i}, Town{i}]}}, not: {{region: east}}}}"),
            _ => {
                format!("{{contact.email: {{regex: \"^team{i}@\"}}, agent_id: {{exists: false}}}}")
            }
        };
        y.push_str(&format!(
            "  - name: r{i}\n    when: {when}\n    assign: {assign}\n"
        ));
    }
    y.push_str("  - name: rest\n    assign: unassigned\n");
    let rs = Ruleset::from_source(&y, Path::new("generated.yaml"))
        .unwrap()
        .ruleset;
    let leads = (0..64)
        .map(|i| {
            let body = format!(
                r#"{{"id":"g{i}","source":"src{s}","price":{p},"contact":{{"name":"Lead {i}","email":"team{t}@example.com","phone":"+1-555-{i:04}"}},"address":{{"city":"City{c}","state":"{st}","postal_code":"9{i:04}"}},"attributes":{{"campaign":"c{k}"}}}}"#,
                s = (i * 7) % 200,
                p = (i * 3301) % 200_000,
                t = (i * 13) % 200,
                c = (i * 11) % 200,
                st = ["CA", "NY", "TX", "NJ"][i % 4],
                k = (i * 17) % 200,
            );
            parse_lead(body.as_bytes(), DEFAULT_MAX_MESSAGE_BYTES).unwrap()
        })
        .collect();
    (rs, leads)
}

fn bench_set(c: &mut Criterion, name: &str, rs: &Ruleset, leads: &[Lead]) {
    let mut g = c.benchmark_group(name);
    g.throughput(Throughput::Elements(leads.len() as u64));
    g.bench_function("decide", |b| {
        let mut state = MemoryState::new();
        b.iter(|| {
            for lead in leads {
                black_box(decide(rs, black_box(lead), &mut state));
            }
        })
    });
    g.finish();
}

fn benches(c: &mut Criterion) {
    let leads = sample_leads();
    let sample = Ruleset::load(Path::new("rules/routing.yaml"))
        .unwrap()
        .ruleset;
    bench_set(c, "sample_yaml_only", &yaml_only_sample(), &leads);
    bench_set(c, "sample_with_rhai", &sample, &leads);
    let (generated, gleads) = generated_200();
    bench_set(c, "generated_200_rules", &generated, &gleads);
}

criterion_group!(decide_benches, benches);
criterion_main!(decide_benches);
