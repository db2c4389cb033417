//! Realistic inbound leads (SPEC section 2), about 600 bytes each, that exercise every
//! rule of `rules/routing.yaml`. Deterministic: lead `n` of a run is always the same
//! (a splitmix64 hash of `n`), only the run id in `id` and the `received_at` base vary.
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value, json};

/// splitmix64: a good 64-bit mix of one number, enough for a reproducible lead mix.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed ^ 0x5DEE_CE66_D1CE_4E5B)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// 0..n
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// true with probability `percent` %.
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }
}

/// (state, city, postal code prefix, phone area code). West: CA OR WA NV AZ;
/// northeast: NY NJ MA CT; the rest match no region.
const PLACES: &[(&str, &str, &str, &str)] = &[
    ("CA", "Sacramento", "958", "916"),
    ("CA", "Oakland", "946", "510"),
    ("CA", "Los Angeles", "900", "213"),
    ("CA", "San Francisco", "941", "415"),
    ("CA", "Fresno", "937", "559"),
    ("OR", "Portland", "972", "503"),
    ("WA", "Seattle", "981", "206"),
    ("WA", "Tacoma", "984", "253"),
    ("NV", "Reno", "895", "775"),
    ("AZ", "Phoenix", "850", "480"),
    ("NY", "Brooklyn", "112", "718"),
    ("NY", "Manhattan", "100", "212"),
    ("NJ", "Hoboken", "070", "201"),
    ("MA", "Boston", "021", "617"),
    ("CT", "Hartford", "061", "860"),
    ("TX", "Austin", "787", "512"),
    ("FL", "Miami", "331", "305"),
    ("IL", "Chicago", "606", "312"),
    ("CO", "Denver", "802", "303"),
    ("GA", "Atlanta", "303", "404"),
];

const FIRST: &[&str] = &[
    "Maria", "James", "Priya", "Tom", "Elena", "Hiro", "Sofia", "Noah", "Ava", "Liam", "Olivia",
    "Ethan", "Mia", "Lucas", "Isabella", "Grace", "Daniel", "Chloe", "Ben", "Zara", "Owen", "Ruby",
    "Henry", "Lily", "Jack",
];
const LAST: &[&str] = &[
    "Lopez", "Chen", "Patel", "Becker", "Rossi", "Tanaka", "Alvarez", "Williams", "Johnson",
    "Nguyen", "Brown", "Davis", "Wilson", "Martin", "Garcia", "Lee", "Kim", "Scott", "Carter",
    "Ahmed", "Murphy", "Clark", "Young", "Turner", "Harris",
];
const STREETS: &[&str] = &[
    "Oak St",
    "Maple Ave",
    "Pine Rd",
    "Cedar Ln",
    "Elm St",
    "Washington Blvd",
    "Park Ave",
    "Lakeview Dr",
    "Sunset Blvd",
    "Hillcrest Rd",
];
const AGENTS: &[&str] = &[
    "alice", "bob", "carol", "dana", "eve", "frank", "grace", "zoe", "yusuf", "maya",
];
const OFFICES: &[&str] = &["sf", "chicago", "austin", "seattle", "boston"];
const PROPERTY_TYPES: &[&str] = &[
    "single_family",
    "condo",
    "townhouse",
    "multi_family",
    "land",
];
const TIMELINES: &[&str] = &[
    "asap",
    "1-3 months",
    "3-6 months",
    "6-12 months",
    "just browsing",
];
const UTM_SOURCES: &[&str] = &["google", "facebook", "zillow", "newsletter", "instagram"];
const UTM_MEDIUMS: &[&str] = &["cpc", "social", "referral", "email", "organic"];
const PHRASES: &[&str] = &[
    "Hi, I saw this home online and would love to schedule a showing this weekend.",
    "We are relocating for work and need to move before the school year starts.",
    "Is the seller open to offers below asking? We are pre-approved with our bank.",
    "Could you send me comparable sales in the neighbourhood from the last six months?",
    "Looking for three bedrooms, a yard for the dog, and a short commute downtown.",
    "Please call after 5pm on weekdays; mornings are hard for me.",
    "Does the HOA allow rentals? We might rent it out for a year or two.",
    "First-time buyer here, I would appreciate help understanding closing costs.",
    "We already sold our current place and are renting month to month.",
    "Interested in similar listings with a garage and updated kitchen.",
];

/// Lead bodies `first..first+count` of run `run`, as JSON text.
pub fn generate(run: &str, first: usize, count: usize, now: DateTime<Utc>) -> Vec<String> {
    (first..first + count).map(|n| lead(run, n, now)).collect()
}

/// Lead `n` of run `run`.
pub fn lead(run: &str, n: usize, now: DateTime<Utc>) -> String {
    let mut r = Rng::new(n as u64);
    let mut o = Map::new();
    o.insert("id".into(), json!(format!("bench-{run}-{n}")));
    if r.chance(70) {
        // Within the last hour: well inside `alerts.unassigned_after` (24 h), so the
        // sweeper raises no alert during the run.
        let at = now - chrono::Duration::seconds(r.below(3600) as i64);
        o.insert(
            "received_at".into(),
            json!(at.to_rfc3339_opts(SecondsFormat::Millis, true)),
        );
    }
    let source = match r.below(100) {
        0..20 => "agent_site",
        20..35 => "listing",
        35..70 => "web_form",
        70..80 => "open_house",
        80..92 => "api",
        _ => "import",
    };
    o.insert("source".into(), json!(source));
    let direct = matches!(source, "agent_site" | "listing");
    if (direct && r.chance(85)) || r.chance(5) {
        o.insert("agent_id".into(), json!(r.pick(AGENTS)));
    }

    let (first, last) = (r.pick(FIRST), r.pick(LAST));
    let name = if r.chance(1) {
        format!("TEST {last}")
    } else {
        format!("{first} {last}")
    };
    let (state, city, zip, area) = r.pick(PLACES);
    let mut contact = Map::new();
    contact.insert("name".into(), json!(name));
    if r.chance(80) {
        let email = format!(
            "{}.{}{}@example.com",
            first.to_lowercase(),
            last.to_lowercase(),
            r.below(100)
        );
        contact.insert("email".into(), json!(email));
    }
    if r.chance(60) {
        let phone = format!("+1-{area}-555-{:04}", r.below(10_000));
        contact.insert("phone".into(), json!(phone));
    }
    o.insert("contact".into(), Value::Object(contact));

    let mut address = Map::new();
    if r.chance(70) {
        let street = format!("{} {}", 1 + r.below(9_899), r.pick(STREETS));
        address.insert("street".into(), json!(street));
    }
    address.insert("city".into(), json!(city));
    address.insert("state".into(), json!(state));
    let postal = format!("{zip}{:02}", r.below(100));
    address.insert("postal_code".into(), json!(postal));
    address.insert("country".into(), json!("US"));
    o.insert("address".into(), Value::Object(address));
    if r.chance(3) {
        o.insert(
            "region".into(),
            json!(r.pick(&["west", "northeast", "south"])),
        );
    }

    if r.chance(60) {
        // About one priced lead in ten is a luxury one (>= 1,000,000).
        let price = if r.chance(10) {
            1_000_000 + r.below(4_000_000) as i64
        } else {
            150_000 + r.below(800_000) as i64
        };
        o.insert("price".into(), json!(price));
    }
    if matches!(source, "listing" | "agent_site") {
        o.insert(
            "listing_id".into(),
            json!(format!("MLS-{}", r.below(100_000))),
        );
    }

    let mut attrs = Map::new();
    attrs.insert("bedrooms".into(), json!(1 + r.below(5)));
    attrs.insert("property_type".into(), json!(r.pick(PROPERTY_TYPES)));
    attrs.insert("timeline".into(), json!(r.pick(TIMELINES)));
    if r.chance(25) {
        // Renters' monthly budget; >= 20,000 in the west goes to luxury via the script.
        attrs.insert("budget".into(), json!(1_500 + r.below(25_000)));
    }
    if source == "open_house" && r.chance(70) {
        attrs.insert("office".into(), json!(r.pick(OFFICES)));
    }
    if source == "import" && r.chance(60) {
        attrs.insert("previous_agent".into(), json!(r.pick(AGENTS)));
    }
    o.insert("attributes".into(), Value::Object(attrs));

    let (utm_source, utm_medium) = (r.pick(UTM_SOURCES), r.pick(UTM_MEDIUMS));
    o.insert("utm_source".into(), json!(utm_source));
    o.insert("utm_medium".into(), json!(utm_medium));
    let campaign = format!(
        "{}-{}-q{}",
        state.to_lowercase(),
        utm_medium,
        1 + r.below(4)
    );
    o.insert("utm_campaign".into(), json!(campaign));
    let page = format!(
        "https://www.example-realty.com/{}/{}/listing-{}",
        state.to_lowercase(),
        city.to_lowercase().replace(' ', "-"),
        r.below(1_000_000)
    );
    o.insert("page_url".into(), json!(page));

    let mut message = String::new();
    for _ in 0..1 + r.below(2) {
        if !message.is_empty() {
            message.push(' ');
        }
        message.push_str(r.pick(PHRASES));
    }
    o.insert("message".into(), json!(message));
    Value::Object(o).to_string()
}

#[derive(Debug, Clone, Copy)]
pub struct Sizes {
    pub avg: f64,
    pub min: usize,
    pub max: usize,
}

pub fn sizes(bodies: &[String]) -> Sizes {
    let total: usize = bodies.iter().map(String::len).sum();
    Sizes {
        avg: total as f64 / bodies.len().max(1) as f64,
        min: bodies.iter().map(String::len).min().unwrap_or(0),
        max: bodies.iter().map(String::len).max().unwrap_or(0),
    }
}
