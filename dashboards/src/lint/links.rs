//! Rules on header links: they lead somewhere that exists.

use super::finding::finding;
use crate::{Dashboard, DashboardLink};
use report::Finding;

pub(super) fn check(d: &Dashboard, all: &[Dashboard], problems: &mut Vec<Finding>) {
    for link in d.links() {
        let here = format!("link {:?}", link.title());
        if let DashboardLink::Tagged { tags, .. } = link {
            let listed = all.iter().filter(|o| o.uid() != d.uid()).any(|o| tags.iter().all(|t| o.tags().contains(t)));
            if !listed {
                problems.push(finding(
                    d.uid(),
                    &here,
                    format!("lists dashboards tagged {tags:?}, but no other dashboard has all those tags"),
                ));
            }
        }
        let target = link.target_url().and_then(|url| dashboard_uid_of(&url));
        if let Some(target) = target
            && !all.iter().any(|o| o.uid() == target)
        {
            problems.push(finding(
                d.uid(),
                &here,
                format!("links to dashboard uid {target:?}, which is not one of the dashboards linted"),
            ));
        }
    }
}

/// `etl-hosts` for `/d/etl-hosts`, `/d/etl-hosts/slug?var-x=1` and the like.
fn dashboard_uid_of(url: &str) -> Option<String> {
    let rest = url.strip_prefix("/d/")?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    Some(rest[..end].to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extracts_uids_from_dashboard_urls() {
        assert_eq!(dashboard_uid_of("/d/etl-hosts").as_deref(), Some("etl-hosts"));
        assert_eq!(dashboard_uid_of("/d/etl-hosts/hosts?var-node=a").as_deref(), Some("etl-hosts"));
        assert_eq!(dashboard_uid_of("https://example.com"), None);
    }
}
