//! Every service runs as a non-root user on a read-only root filesystem,
//! with every capability dropped and a process limit, and without access to
//! the container engine's API, unless stack.toml says why not
//! (`hardening.runs_as_root`, `hardening.writable_root`,
//! `hardening.engine_access`). Findings name stack/stack.toml and the
//! service. Services that need the Docker API read it through the Docker
//! API proxy's filtered socket (stack/configs/docker-proxy/haproxy.cfg),
//! which is not the engine's.

use super::Finding;
use crate::source::{BindMount, DEFINITION_FILE, Hardening, StackDefinition};

const CHECK: &str = "hardening";

pub fn check(definition: &StackDefinition) -> Vec<Finding> {
    definition
        .services
        .iter()
        .flat_map(|(name, svc)| {
            let mut found = problems(&svc.hardening);
            found.extend(engine_access(&svc.hardening, &svc.binds));
            found.into_iter().map(move |message| {
                Finding::new(CHECK, DEFINITION_FILE, format!("[services.{name}.hardening]"), message)
            })
        })
        .collect()
}

/// The engine's API sockets: Docker's, containerd's, and Swarm's control
/// socket (`control.sock`, a manager's whole cluster API). `/var/run` is a
/// symlink to `/run` on the hosts we target, so sources are compared in
/// `/run` form.
const ENGINE_SOCKETS: &[&str] = &["/run/docker.sock", "/run/containerd", "/var/lib/docker/swarm"];

/// A bind that reaches the engine's API. A read-only bind does not make
/// the API read-only: a process that can connect can create a privileged
/// container, which is root on the node. A bind of the socket itself counts
/// for any user. A bind of a directory above it counts for root and for a
/// process with DAC_OVERRIDE (the sockets are 0660 or tighter, owned by
/// root), unless a tmpfs mounted over the socket's place in the container
/// hides it (a bind is recursive: `/` holds /run and /var/lib/docker).
fn engine_access(h: &Hardening, binds: &[BindMount]) -> Vec<String> {
    let passes_dac = h.runs_as_root() || h.cap_add.iter().any(|c| c.trim_start_matches("CAP_") == "DAC_OVERRIDE");
    let hidden = |inside: &str| h.tmpfs.iter().any(|t| under(inside, &t.target));
    let reaching: Vec<&str> = binds
        .iter()
        .filter(|b| {
            let source = run_form(&b.source);
            ENGINE_SOCKETS.iter().any(|sock| {
                if under(&source, sock) {
                    return true;
                }
                let Some(rest) = sock.strip_prefix(source.trim_end_matches('/')) else { return false };
                let inside = format!("{}{rest}", b.target.trim_end_matches('/'));
                passes_dac && rest.starts_with('/') && !hidden(&inside)
            })
        })
        .map(|b| b.source.as_str())
        .collect();
    match (reaching.is_empty(), &h.engine_access) {
        (false, None) => vec![format!(
            "reaches the container engine's API through {reaching:?} (read-only binds do not make the API read-only: that is root on the node): say why in `engine_access`, or hide the sockets under a `tmpfs`"
        )],
        (true, Some(_)) => {
            vec!["`engine_access` is set but no bind reaches the engine: drop the stale reason".to_owned()]
        }
        _ => Vec::new(),
    }
}

/// `path` with a leading `/var/run` written as `/run`, without a trailing
/// slash (`/` stays `/`).
fn run_form(path: &str) -> String {
    let path = path.trim_end_matches('/');
    match path.strip_prefix("/var/run") {
        Some(rest) if rest.is_empty() || rest.starts_with('/') => format!("/run{rest}"),
        _ if path.is_empty() => "/".to_owned(),
        _ => path.to_owned(),
    }
}

/// `path` is `dir` or below it.
fn under(path: &str, dir: &str) -> bool {
    let dir = dir.trim_end_matches('/');
    path == dir || path.starts_with(&format!("{dir}/"))
}

fn problems(h: &Hardening) -> Vec<String> {
    let mut out = Vec::new();
    match (h.runs_as_root(), &h.runs_as_root) {
        (true, None) if h.user.is_none() => out.push(
            "no `user`: the image decides, and many run as root; set a numeric `user`, or say in `runs_as_root` why it must be root"
                .to_owned(),
        ),
        (true, None) => out.push("runs as root (uid 0) without a reason: say why in `runs_as_root`".to_owned()),
        (false, Some(_)) => {
            out.push("`runs_as_root` is set but `user` is not root: drop the stale reason".to_owned())
        }
        _ => {}
    }
    match (h.read_only, &h.writable_root) {
        (false, None) => out.push(
            "writable root filesystem: set `read_only = true` (with `tmpfs`/volumes for what it writes), or say why not in `writable_root`"
                .to_owned(),
        ),
        (true, Some(_)) => {
            out.push("`writable_root` is set but `read_only = true`: drop the stale reason".to_owned())
        }
        _ => {}
    }
    if !h.cap_drop.iter().any(|c| c == "ALL") {
        out.push(
            "keeps Docker's default capabilities: set `cap_drop = [\"ALL\"]` and `cap_add` what it needs".to_owned(),
        );
    }
    if h.pids.is_none() {
        out.push("no process limit: set `pids`".to_owned());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hardening(toml_text: &str) -> Hardening {
        toml::from_str(toml_text).unwrap()
    }

    #[test]
    fn a_hardened_service_passes() {
        let h = hardening("user = \"65534:65534\"\nread_only = true\ncap_drop = [\"ALL\"]\npids = 64\n");
        assert_eq!(problems(&h), Vec::<String>::new());
    }

    #[test]
    fn root_and_writable_root_need_a_reason() {
        let found = problems(&hardening("cap_drop = [\"ALL\"]\npids = 64\n"));
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(found[0].contains("no `user`"), "{found:?}");
        assert!(found[1].contains("writable root filesystem"), "{found:?}");
        let found = problems(&hardening("user = \"0\"\nread_only = true\ncap_drop = [\"ALL\"]\npids = 64\n"));
        assert_eq!(found, ["runs as root (uid 0) without a reason: say why in `runs_as_root`"]);
        let reasoned = hardening(
            "user = \"0:0\"\nruns_as_root = \"reads root-owned files\"\nwritable_root = \"the image writes to /etc at start\"\ncap_drop = [\"ALL\"]\npids = 64\n",
        );
        assert_eq!(problems(&reasoned), Vec::<String>::new());
    }

    #[test]
    fn stale_reasons_and_missing_limits_are_named() {
        let h = hardening("user = \"472\"\nruns_as_root = \"old\"\nread_only = true\nwritable_root = \"old\"\n");
        let found = problems(&h);
        assert_eq!(found.len(), 4, "{found:?}");
        assert!(found[0].contains("drop the stale reason") && found[1].contains("drop the stale reason"));
        assert!(found[2].contains("cap_drop") && found[3].contains("pids"), "{found:?}");
    }

    #[test]
    fn engine_access_needs_a_reason() {
        let bind = |source: &str| BindMount { source: source.into(), target: "/x".into(), read_only: true };
        let root = hardening("user = \"0\"\n");
        let nobody = hardening("user = \"65534\"\n");
        let found = engine_access(&root, &[bind("/var/run/docker.sock"), bind("/proc")]);
        assert!(found.len() == 1 && found[0].contains("/var/run/docker.sock"), "{found:?}");
        assert_eq!(engine_access(&root, &[bind("/")]).len(), 1, "root connects through a bind of /");
        assert!(engine_access(&nobody, &[bind("/")]).is_empty(), "the socket is 0660 root:docker");
        assert_eq!(engine_access(&nobody, &[bind("/run/docker.sock")]).len(), 1);
        let reasoned = hardening("user = \"0\"\nengine_access = \"Docker discovery\"\n");
        assert!(engine_access(&reasoned, &[bind("/var/run/docker.sock")]).is_empty());
        assert_eq!(engine_access(&reasoned, &[bind("/proc")]).len(), 1, "a stale reason is named");
        assert_eq!(engine_access(&root, &[bind("/var/run")]).len(), 1, "/var/run is /run");
        assert_eq!(engine_access(&root, &[bind("/var/lib/docker")]).len(), 1, "Swarm's control socket");
        let dac = hardening("user = \"65534\"\ncap_add = [\"DAC_OVERRIDE\"]\n");
        assert_eq!(engine_access(&dac, &[bind("/")]).len(), 1, "DAC_OVERRIDE passes the socket's mode");
    }

    #[test]
    fn a_tmpfs_over_the_sockets_hides_them() {
        let bind =
            |source: &str, target: &str| BindMount { source: source.into(), target: target.into(), read_only: true };
        let masked = |tmpfs: &[&str]| {
            let list: Vec<String> = tmpfs.iter().map(|t| format!("{{ target = \"{t}\", size = \"1M\" }}")).collect();
            hardening(&format!("user = \"0\"\ntmpfs = [{}]\n", list.join(", ")))
        };
        let binds = [bind("/", "/rootfs"), bind("/var/lib/docker", "/var/lib/docker")];
        let all = masked(&["/rootfs/run", "/rootfs/var/lib/docker/swarm", "/var/lib/docker/swarm"]);
        assert!(engine_access(&all, &binds).is_empty());
        let found = engine_access(&masked(&["/rootfs/run", "/rootfs/var/lib/docker/swarm"]), &binds);
        assert!(found.len() == 1 && found[0].contains("/var/lib/docker"), "{found:?}");
        assert_eq!(engine_access(&masked(&["/rootfs/run"]), &binds[..1]).len(), 1, "control.sock under /rootfs");
        // A bind of the socket itself is not hidden by a tmpfs elsewhere.
        assert_eq!(engine_access(&all, &[bind("/run/docker.sock", "/var/run/docker.sock")]).len(), 1);
    }

    /// The repository's own stack states every exception.
    #[test]
    fn the_repository_stack_is_hardened() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let source = crate::source::Source::load(root).unwrap();
        let findings = check(&source.definition);
        assert!(findings.is_empty(), "{findings:#?}");
    }
}
