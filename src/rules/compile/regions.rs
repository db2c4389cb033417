//! `regions:` name → {states, postal_prefixes}.
use super::{Compiler, Parts};
use crate::rules::model::Region;
use serde_yaml::Value as Yaml;

/// The keys a region accepts.
const REGION_KEYS: &[&str] = &["states", "postal_prefixes"];

pub(super) fn section(c: &mut Compiler<'_>, v: Option<&Yaml>, parts: &mut Parts) {
    parts.regions = c.regions(v);
}

impl Compiler<'_> {
    fn regions(&mut self, v: Option<&Yaml>) -> Vec<Region> {
        let mut out = Vec::new();
        let Some(v) = v.filter(|v| !v.is_null()) else {
            return out;
        };
        let Some(m) = v.as_mapping() else {
            self.err(
                "regions",
                "`regions` must be a mapping of region name to {states, postal_prefixes}",
            );
            return out;
        };
        for (k, body) in m {
            let Some(name) = self.key_str(k, "regions") else {
                continue;
            };
            if let Some(region) = self.region(&name, body) {
                out.push(region);
            }
        }
        out
    }

    fn region(&mut self, name: &str, body: &Yaml) -> Option<Region> {
        let at = format!("regions.{name}");
        let Some(body) = body.as_mapping() else {
            self.err(
                &at,
                format!("region `{name}` must be a mapping with `states` and/or `postal_prefixes`"),
            );
            return None;
        };
        let mut region = Region {
            name: name.to_owned(),
            states: vec![],
            postal_prefixes: vec![],
        };
        for (bk, bv) in body {
            match bk.as_str() {
                Some("states") => {
                    region.states = self.string_list(bv, &format!("{at}.states"), "states");
                    region
                        .states
                        .iter_mut()
                        .for_each(|s| *s = s.trim().to_ascii_uppercase());
                }
                Some("postal_prefixes") => {
                    region.postal_prefixes = self.string_list(
                        bv,
                        &format!("{at}.postal_prefixes"),
                        "postal_prefixes (quote them: \"07\")",
                    )
                }
                _ => self.err(
                    &at,
                    format!(
                        "region `{name}`: unknown key {bk:?} (expected {})",
                        REGION_KEYS.join(", ")
                    ),
                ),
            }
        }
        if region.states.is_empty() && region.postal_prefixes.is_empty() {
            self.err(
                &at,
                format!("region `{name}` has no states and no postal_prefixes: it can never match"),
            );
        }
        Some(region)
    }
}
