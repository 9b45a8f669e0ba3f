//! Names of secret versions. Swarm secrets are immutable, so a new value is
//! a new secret: `<stack>_<key>_v<N>`, N counting up from 1. The bundle
//! names only the family `<stack>_<key>`; a deploy mounts the newest
//! version that exists, and each revision records the versions its specs
//! mount. The number says nothing about the value (unlike a hash of it,
//! which would let anyone holding the name test guesses offline).
//!
//! A secret named exactly like the family (created by hand with `docker
//! secret create <stack>_<key>` before versions existed) counts as version
//! 0, so an existing installation keeps working and its first rotation
//! makes version 1.

/// Label on every secret version xtask creates: the key under `secrets:`.
pub const SECRET_KEY_LABEL: &str = "xtask.secret";
/// Label: the version number.
pub const SECRET_VERSION_LABEL: &str = "xtask.secret.version";
/// Label: `generated` or `set` (by the operator).
pub const SECRET_ORIGIN_LABEL: &str = "xtask.secret.origin";

/// `<stack>_<key>`: the name the bundle gives the secret `key`.
pub fn secret_family(stack: &str, key: &str) -> String {
    format!("{stack}_{key}")
}

/// The Swarm name of version `version` of `family` (0: the family name).
pub fn secret_version_name(family: &str, version: u32) -> String {
    if version == 0 { family.to_owned() } else { format!("{family}_v{version}") }
}

/// The version `name` is of `family`, if it is one.
pub fn secret_version(family: &str, name: &str) -> Option<u32> {
    let rest = name.strip_prefix(family)?;
    if rest.is_empty() {
        return Some(0);
    }
    let digits = rest.strip_prefix("_v")?;
    // No leading zeros: `_v01` and `_v1` would otherwise be one version.
    if digits.is_empty() || digits.starts_with('0') || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The newest version of `family` among `names`: (version, name).
pub fn newest_version<'a>(family: &str, names: impl IntoIterator<Item = &'a str>) -> Option<(u32, String)> {
    names.into_iter().filter_map(|n| Some((secret_version(family, n)?, n.to_owned()))).max_by_key(|(v, _)| *v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_counted_not_hashed() {
        assert_eq!(secret_family("monitoring", "grafana_secret_key"), "monitoring_grafana_secret_key");
        assert_eq!(secret_version_name("m_k", 0), "m_k");
        assert_eq!(secret_version_name("m_k", 12), "m_k_v12");
        assert_eq!(secret_version("m_k", "m_k"), Some(0));
        assert_eq!(secret_version("m_k", "m_k_v12"), Some(12));
        for other in ["m_k_v", "m_k_v01", "m_k_v0", "m_k_vx", "m_k_extra", "m_k_extra_v1", "m_kk_v1", "m_k_v1x"] {
            assert_eq!(secret_version("m_k", other), None, "{other}");
        }
    }

    #[test]
    fn the_newest_version_wins_and_a_hand_made_secret_is_version_zero() {
        let names = ["m_a", "m_a_v2", "m_a_v10", "m_a_b_v99", "m_b"];
        assert_eq!(newest_version("m_a", names), Some((10, "m_a_v10".into())), "numeric, not lexical order");
        assert_eq!(newest_version("m_b", names), Some((0, "m_b".into())));
        assert_eq!(newest_version("m_c", names), None);
    }
}
