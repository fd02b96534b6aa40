//! What a sandboxed part can reach, as bubblewrap (`bwrap`) arguments.
//!
//! The part sees a new root holding only: the system's `/usr` (and the
//! `/bin`, `/lib`… links into it) and `/etc` read-only, minus the few files
//! there that hold machine secrets; a fresh `/proc` of its own PID namespace
//! and a minimal `/dev`; a private `/tmp` and an empty, private home; the
//! checkout, the one writable place of the user's; read-only, the directories
//! of the trusted `PATH` (Stageline's own and the stage's variables, never the
//! buildspec's) with the Python environments their tools run from; and,
//! when the user has Docker, its socket and configuration. The network is the
//! machine's (builds push images).
//!
//! Only variables Stageline and the user set decide what is mounted: a
//! buildspec's `env.variables` cannot widen the sandbox (its `PATH` applies
//! inside, over what is visible).

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::path::{Component, Path, PathBuf};

/// Files of `/etc` that hold machine secrets (readable when Stageline runs
/// as root): hidden behind empty ones.
const ETC_SECRET_FILES: [&str; 3] = ["/etc/shadow", "/etc/gshadow", "/etc/sudoers"];
/// Directories of `/etc` that hold machine secrets: hidden behind empty ones.
const ETC_SECRET_DIRS: [&str; 3] = [
    "/etc/ssl/private",
    "/etc/sudoers.d",
    "/etc/NetworkManager/system-connections",
];
/// The top-level names that merged-`/usr` systems link into `/usr`.
const USR_LINKS: [&str; 6] = ["/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"];
/// The Docker daemon's usual socket.
const DOCKER_SOCKETS: [&str; 2] = ["/var/run/docker.sock", "/run/docker.sock"];
/// What of `~/.docker` a build reads besides its `config.json` (which it
/// gets a private, writable copy of, so `docker login` works).
const DOCKER_CONFIG_PARTS: [&str; 2] = ["contexts", "cli-plugins"];
/// How many entries of one PATH directory are looked at for links into a
/// Python environment (a huge directory is not scanned whole).
const MAX_LINKS_CHASED: usize = 2000;

/// One thing made visible inside the sandbox.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Mount {
    ReadOnly {
        source: PathBuf,
        target: PathBuf,
    },
    Writable {
        source: PathBuf,
        target: PathBuf,
    },
    /// An empty directory over `target` (hides what is there).
    Empty {
        target: PathBuf,
    },
    /// An empty file over `target`.
    EmptyFile {
        target: PathBuf,
    },
    Symlink {
        link: String,
        target: PathBuf,
    },
}

impl Mount {
    fn target(&self) -> &Path {
        match self {
            Mount::ReadOnly { target, .. }
            | Mount::Writable { target, .. }
            | Mount::Empty { target }
            | Mount::EmptyFile { target }
            | Mount::Symlink { target, .. } => target,
        }
    }
}

/// The sandbox of one part.
#[derive(Debug, Clone)]
pub(crate) struct SandboxLayout {
    mounts: Vec<Mount>,
    workdir: PathBuf,
    /// The read-only directories of the user's (PATH, Python, Docker), for the log.
    shown_read_only: Vec<PathBuf>,
    /// What of Docker is visible, for the log.
    docker: Vec<String>,
}

/// Host directories of the part's private parts: its home and its `/tmp`.
pub(crate) struct PrivateDirs<'a> {
    pub home: &'a Path,
    pub tmp: &'a Path,
}

impl SandboxLayout {
    /// The sandbox for a part in `workdir`, from the trusted environment
    /// (inherited, the user's variables, Stageline's; never the buildspec's).
    /// Copies the user's Docker `config.json` into the private home.
    pub(crate) fn new(
        trusted: &BTreeMap<String, OsString>,
        workdir: &Path,
        private: PrivateDirs<'_>,
    ) -> SandboxLayout {
        let home = trusted
            .get("HOME")
            .map(PathBuf::from)
            .filter(|home| home.is_absolute() && home.parent().is_some());
        let mut plan = Plan {
            mounts: Vec::new(),
            home: home.clone(),
            shown: Vec::new(),
            docker: Vec::new(),
        };

        plan.mounts.push(Mount::ReadOnly {
            source: "/usr".into(),
            target: "/usr".into(),
        });
        for name in USR_LINKS {
            let path = Path::new(name);
            match std::fs::read_link(path) {
                Ok(link) => plan.mounts.push(Mount::Symlink {
                    link: link.to_string_lossy().into_owned(),
                    target: path.into(),
                }),
                Err(_) if path.is_dir() => plan.mounts.push(Mount::ReadOnly {
                    source: path.into(),
                    target: path.into(),
                }),
                Err(_) => {}
            }
        }
        plan.etc();
        plan.mounts.push(Mount::Writable {
            source: private.tmp.into(),
            target: "/tmp".into(),
        });
        if let Some(home) = &home {
            plan.mounts.push(Mount::Writable {
                source: private.home.into(),
                target: home.clone(),
            });
        }
        if let Some(path) = trusted.get("PATH") {
            for dir in std::env::split_paths(path) {
                plan.tool_dir(&dir);
            }
        }
        plan.docker(trusted, private.home);
        plan.mounts.push(Mount::Writable {
            source: workdir.into(),
            target: workdir.into(),
        });

        // Parents before children, so a writable checkout inside a read-only
        // directory (or the private /tmp) is mounted over it; order kept otherwise.
        plan.mounts.sort_by_key(|mount| depth(mount.target()));
        SandboxLayout {
            mounts: plan.mounts,
            workdir: workdir.into(),
            shown_read_only: plan.shown,
            docker: plan.docker,
        }
    }

    /// `bwrap` arguments that start `command` in the sandbox.
    pub(crate) fn bwrap_args(&self, command: &[OsString]) -> Vec<OsString> {
        let mut args: Vec<OsString> = [
            "--unshare-pid",
            "--unshare-ipc",
            "--unshare-cgroup-try",
            // Killed with Stageline, and no access to its terminal (TIOCSTI).
            "--die-with-parent",
            "--new-session",
            "--proc",
            "/proc",
            "--dev",
            "/dev",
        ]
        .map(OsString::from)
        .into();
        for mount in &self.mounts {
            match mount {
                Mount::ReadOnly { source, target } => {
                    args.extend(["--ro-bind".into(), source.into(), target.into()])
                }
                Mount::Writable { source, target } => {
                    args.extend(["--bind".into(), source.into(), target.into()])
                }
                Mount::Empty { target } => args.extend(["--tmpfs".into(), target.into()]),
                Mount::EmptyFile { target } => {
                    args.extend(["--ro-bind".into(), "/dev/null".into(), target.into()])
                }
                Mount::Symlink { link, target } => {
                    args.extend(["--symlink".into(), link.into(), target.into()])
                }
            }
        }
        args.extend(["--chdir".into(), self.workdir.clone().into()]);
        args.push("--".into());
        args.extend(command.iter().cloned());
        args
    }

    /// One line for the part's log: what the commands can reach.
    pub(crate) fn describe(&self) -> String {
        let mut read_only = vec!["/usr".to_string(), "/etc".to_string()];
        read_only.extend(self.shown_read_only.iter().map(|p| p.display().to_string()));
        let docker = if self.docker.is_empty() {
            "no Docker".to_string()
        } else {
            format!("Docker: {}", self.docker.join(", "))
        };
        format!(
            "Sandbox: only the checkout and a private /tmp are writable; the home is empty; \
             read-only: {}; {docker}; processes end with the part",
            read_only.join(", ")
        )
    }
}

struct Plan {
    mounts: Vec<Mount>,
    home: Option<PathBuf>,
    shown: Vec<PathBuf>,
    docker: Vec<String>,
}

impl Plan {
    /// `/etc` read-only without its secrets; a `resolv.conf` that links
    /// outside `/etc` (systemd-resolved) keeps working.
    fn etc(&mut self) {
        self.mounts.push(Mount::ReadOnly {
            source: "/etc".into(),
            target: "/etc".into(),
        });
        for file in ETC_SECRET_FILES {
            if Path::new(file).is_file() {
                self.mounts.push(Mount::EmptyFile {
                    target: file.into(),
                });
            }
        }
        for dir in ETC_SECRET_DIRS {
            if Path::new(dir).is_dir() {
                self.mounts.push(Mount::Empty { target: dir.into() });
            }
        }
        if let Ok(hosts) = std::fs::read_dir("/etc/ssh") {
            for entry in hosts.flatten() {
                let name = entry.file_name();
                let name = name.to_string_lossy();
                if name.starts_with("ssh_host_") && name.ends_with("_key") {
                    self.mounts.push(Mount::EmptyFile {
                        target: entry.path(),
                    });
                }
            }
        }
        if let Ok(resolved) = std::fs::canonicalize("/etc/resolv.conf") {
            if !resolved.starts_with("/etc") && !resolved.starts_with("/usr") {
                self.mounts.push(Mount::ReadOnly {
                    source: resolved.clone(),
                    target: resolved,
                });
            }
        }
    }

    /// Whether binding `path` would show the home, or everything.
    fn too_wide(&self, path: &Path) -> bool {
        depth(path) == 0
            || self
                .home
                .as_ref()
                .is_some_and(|home| home.starts_with(path))
    }

    /// A directory made visible read-only, where it is named and where it
    /// really is (a script's `#!` names the real place).
    fn read_only(&mut self, path: &Path) -> bool {
        if !path.is_absolute() || self.too_wide(path) || path.starts_with("/usr") {
            return false;
        }
        let Ok(real) = std::fs::canonicalize(path) else {
            return false;
        };
        if self.too_wide(&real) || real.starts_with("/usr") {
            return false;
        }
        let mut added = false;
        for target in [path.to_path_buf(), real.clone()] {
            let known = self.mounts.iter().any(|mount| mount.target() == target);
            if !known {
                self.mounts.push(Mount::ReadOnly {
                    source: real.clone(),
                    target: target.clone(),
                });
                self.shown.push(target);
                added = true;
            }
        }
        added
    }

    /// A PATH directory, with the Python environments its tools need.
    fn tool_dir(&mut self, dir: &Path) {
        if !dir.is_dir() || !self.read_only(dir) {
            return;
        }
        if let Some(parent) = dir.parent() {
            self.python_environment(parent);
        }
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten().take(MAX_LINKS_CHASED) {
            let is_link = entry.file_type().is_ok_and(|kind| kind.is_symlink());
            if !is_link {
                continue;
            }
            let Ok(target) = std::fs::canonicalize(entry.path()) else {
                continue;
            };
            // A tool linked from a virtual environment (pipx and the like).
            for ancestor in target.ancestors().skip(1).take(4) {
                if self.python_environment(ancestor) {
                    break;
                }
            }
        }
    }

    /// A Python virtual environment and the Python installation it runs on
    /// (its `pyvenv.cfg` says where); `false` if `dir` is none.
    fn python_environment(&mut self, dir: &Path) -> bool {
        let Ok(config) = std::fs::read_to_string(dir.join("pyvenv.cfg")) else {
            return false;
        };
        self.read_only(dir);
        let base = config.lines().find_map(|line| {
            let (key, value) = line.split_once('=')?;
            (key.trim() == "home").then(|| PathBuf::from(value.trim()))
        });
        if let Some(bin) = base {
            // `home` names the interpreter's bin directory: its prefix holds the library.
            let prefix = match bin.file_name() {
                Some(name) if name == OsStr::new("bin") => bin.parent().map(Path::to_path_buf),
                _ => Some(bin),
            };
            if let Some(prefix) = prefix {
                self.read_only(&prefix);
            }
        }
        true
    }

    /// The Docker daemon's socket and the user's Docker configuration, when
    /// the user has Docker.
    fn docker(&mut self, trusted: &BTreeMap<String, OsString>, private_home: &Path) {
        let var = |name: &str| trusted.get(name).filter(|value| !value.is_empty());
        let mut sockets: Vec<PathBuf> = Vec::new();
        match var("DOCKER_HOST").map(|host| host.to_string_lossy().into_owned()) {
            Some(host) => {
                if let Some(path) = host.strip_prefix("unix://") {
                    sockets.push(path.into());
                }
            }
            None => {
                sockets.extend(DOCKER_SOCKETS.map(PathBuf::from));
                if let Some(runtime) = var("XDG_RUNTIME_DIR") {
                    sockets.push(Path::new(runtime).join("docker.sock"));
                }
            }
        }
        for socket in sockets {
            if socket.is_absolute() && socket.exists() && !self.too_wide(&socket) {
                let real = std::fs::canonicalize(&socket).unwrap_or_else(|_| socket.clone());
                self.mounts.push(Mount::ReadOnly {
                    source: real,
                    target: socket.clone(),
                });
                self.docker.push(socket.display().to_string());
            }
        }
        if let Some(certs) = var("DOCKER_CERT_PATH") {
            if self.read_only(Path::new(certs)) {
                self.docker
                    .push(format!("certificates in {}", Path::new(certs).display()));
            }
        }
        if let Some(config) = var("DOCKER_CONFIG") {
            let config = PathBuf::from(config);
            // The user chose this folder for Docker's state: it stays writable.
            if config.is_absolute() && config.is_dir() && !self.too_wide(&config) {
                self.mounts.push(Mount::Writable {
                    source: config.clone(),
                    target: config.clone(),
                });
                self.docker
                    .push(format!("its configuration {}", config.display()));
            }
            return;
        }
        let Some(home) = self.home.clone() else {
            return;
        };
        let own = home.join(".docker");
        if !own.is_dir() {
            return;
        }
        let copy = private_home.join(".docker");
        if std::fs::create_dir_all(&copy).is_err() {
            return;
        }
        if std::fs::copy(own.join("config.json"), copy.join("config.json")).is_ok() {
            self.docker
                .push("a private copy of ~/.docker/config.json".into());
        }
        for part in DOCKER_CONFIG_PARTS {
            let source = own.join(part);
            if source.is_dir() {
                self.mounts.push(Mount::ReadOnly {
                    source: source.clone(),
                    target: source,
                });
                self.docker.push(format!("~/.docker/{part}"));
            }
        }
    }
}

/// How many names a path has below the root.
fn depth(path: &Path) -> usize {
    path.components()
        .filter(|part| matches!(part, Component::Normal(_)))
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, OsString> {
        pairs
            .iter()
            .map(|(name, value)| (name.to_string(), OsString::from(value)))
            .collect()
    }

    fn layout(
        trusted: &BTreeMap<String, OsString>,
        workdir: &Path,
    ) -> (SandboxLayout, tempfile::TempDir) {
        let private = tempfile::tempdir().unwrap();
        let home = private.path().join("home");
        let tmp = private.path().join("tmp");
        std::fs::create_dir_all(&home).unwrap();
        std::fs::create_dir_all(&tmp).unwrap();
        let layout = SandboxLayout::new(
            trusted,
            workdir,
            PrivateDirs {
                home: &home,
                tmp: &tmp,
            },
        );
        (layout, private)
    }

    fn targets(layout: &SandboxLayout) -> Vec<PathBuf> {
        layout
            .mounts
            .iter()
            .map(|m| m.target().to_path_buf())
            .collect()
    }

    #[test]
    fn path_entries_that_would_show_the_home_or_everything_are_not_mounted() {
        let home = tempfile::tempdir().unwrap();
        let tools = home.path().join("tools");
        std::fs::create_dir_all(&tools).unwrap();
        let trusted = env(&[
            ("HOME", home.path().to_str().unwrap()),
            (
                "PATH",
                &format!(
                    "/:{}:{}:/usr/bin:relative",
                    home.path().display(),
                    tools.display()
                ),
            ),
        ]);
        let workdir = tempfile::tempdir().unwrap();
        let (layout, _private) = layout(&trusted, workdir.path());
        let targets = targets(&layout);
        assert!(!targets.contains(&PathBuf::from("/")));
        assert!(targets.contains(&tools), "{targets:?}");
        let home_mounts: Vec<_> = layout
            .mounts
            .iter()
            .filter(|m| m.target() == home.path())
            .collect();
        assert_eq!(home_mounts.len(), 1, "only the empty home: {home_mounts:?}");
        assert!(
            matches!(home_mounts[0], Mount::Writable { source, .. } if source.ends_with("home"))
        );
    }

    #[test]
    fn a_virtual_environment_brings_its_base_python() {
        let root = tempfile::tempdir().unwrap();
        let base = root.path().join("python/3.11");
        std::fs::create_dir_all(base.join("bin")).unwrap();
        let venv = root.path().join("venv");
        std::fs::create_dir_all(venv.join("bin")).unwrap();
        std::fs::write(
            venv.join("pyvenv.cfg"),
            format!("home = {}\nversion = 3.11\n", base.join("bin").display()),
        )
        .unwrap();
        let trusted = env(&[
            ("HOME", "/nonexistent-home"),
            ("PATH", venv.join("bin").to_str().unwrap()),
        ]);
        let workdir = tempfile::tempdir().unwrap();
        let (layout, _private) = layout(&trusted, workdir.path());
        let targets = targets(&layout);
        for wanted in [venv.join("bin"), venv.clone(), base.clone()] {
            let wanted = std::fs::canonicalize(&wanted).unwrap();
            assert!(targets.contains(&wanted), "{wanted:?} in {targets:?}");
        }
    }

    #[test]
    fn docker_config_named_by_the_user_stays_writable_and_parents_mount_first() {
        let docker = tempfile::tempdir().unwrap();
        let trusted = env(&[
            ("HOME", "/nonexistent-home"),
            ("DOCKER_CONFIG", docker.path().to_str().unwrap()),
            ("DOCKER_HOST", "tcp://127.0.0.1:2375"),
        ]);
        let workdir = tempfile::tempdir().unwrap();
        let (layout, _private) = layout(&trusted, workdir.path());
        assert!(layout
            .mounts
            .iter()
            .any(|m| matches!(m, Mount::Writable { target, .. } if target == docker.path())));
        let depths: Vec<usize> = layout.mounts.iter().map(|m| depth(m.target())).collect();
        assert!(
            depths.windows(2).all(|pair| pair[0] <= pair[1]),
            "{depths:?}"
        );
        let tmp = targets(&layout)
            .iter()
            .position(|t| t == Path::new("/tmp"))
            .unwrap();
        let work = targets(&layout)
            .iter()
            .position(|t| t == workdir.path())
            .unwrap();
        assert!(
            tmp < work,
            "the checkout under /tmp is mounted over the private /tmp"
        );
    }

    #[test]
    fn arguments_end_with_the_command() {
        let workdir = tempfile::tempdir().unwrap();
        let (layout, _private) = layout(&env(&[]), workdir.path());
        let args = layout.bwrap_args(&["bash".into(), "-c".into()]);
        assert_eq!(
            &args[args.len() - 3..],
            &["--".into(), OsString::from("bash"), "-c".into()]
        );
        assert!(args.contains(&"--unshare-pid".into()));
        assert!(
            !args.contains(&"--unshare-net".into()),
            "builds need the network"
        );
    }
}
