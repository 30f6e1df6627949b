//! Database outages (SPEC §7 and §10, issue 15): a real `keysmith serve` on a private PostgreSQL
//! cluster that the test creates with `initdb` and starts and stops with `pg_ctl` (never the
//! shared test server). While the database is stopped, validate and an admin route answer 503
//! `UNAVAILABLE` with `Retry-After` within 1 second, `/readyz` answers 503 within 1 second, and
//! the process does not pile up threads; within 1 second of the database's return everything
//! answers 200 again, without a restart.
//!
//! Without PostgreSQL's server binaries the test prints why and passes locally; in CI (`CI` or
//! `KEYSMITH_TEST_REQUIRE_PG` set) it fails.
#![expect(clippy::unwrap_used, reason = "test: any failure fails the test")]

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

mod common;
use common::{Instance, TOKEN, agent, free_port, instance_with};

/// The SPEC's bound for a 503 and for recovery.
const SECOND: Duration = Duration::from_secs(1);

fn required() -> bool {
    std::env::var_os("CI").is_some() || std::env::var_os("KEYSMITH_TEST_REQUIRE_PG").is_some()
}

/// The newest `/usr/lib/postgresql/<version>/bin` with `initdb` and `pg_ctl`.
fn server_binaries() -> Option<PathBuf> {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            (bin.join("initdb").is_file() && bin.join("pg_ctl").is_file()).then_some((version, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, bin)| bin)
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// A PostgreSQL cluster of this test's own, in a temporary folder; stopped when dropped.
struct Cluster {
    bin: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
    /// `initdb` refuses to run as root: as root, every server command runs as `postgres`.
    as_postgres: bool,
}

impl Cluster {
    /// Creates and starts the cluster; `None` (with the reason printed) when this machine
    /// cannot, and that is allowed here.
    fn start_new() -> Option<Self> {
        let Some(bin) = server_binaries() else {
            assert!(
                !required(),
                "PostgreSQL server binaries (initdb, pg_ctl) are required here (CI) but none are \
                 under /usr/lib/postgresql/*/bin"
            );
            eprintln!("skipping the outage test: no initdb/pg_ctl under /usr/lib/postgresql");
            return None;
        };
        let dir = tempfile::tempdir().unwrap();
        let as_postgres = is_root();
        if as_postgres {
            let chown = Command::new("chown")
                .args(["postgres:", &dir.path().display().to_string()])
                .status()
                .unwrap();
            assert!(chown.success(), "chown of the cluster folder to postgres");
        }
        let cluster = Self {
            bin,
            dir,
            port: free_port(),
            as_postgres,
        };
        let data = cluster.data().display().to_string();
        cluster.run(
            "initdb",
            &["-D", &data, "-U", "postgres", "-A", "trust", "--no-sync"],
        );
        cluster.start();
        Some(cluster)
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Runs a server program (as `postgres` when we are root) and asserts it succeeded.
    fn run(&self, program: &str, args: &[&str]) {
        let path = self.bin.join(program);
        let mut cmd = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&path);
            c
        } else {
            Command::new(&path)
        };
        let out = cmd
            .args(args)
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{program} {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Starts the server and waits until it accepts connections.
    fn start(&self) {
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -k {} -c fsync=off -c full_page_writes=off",
            self.port,
            self.dir.path().display()
        );
        let data = self.data().display().to_string();
        let log = self.dir.path().join("server.log").display().to_string();
        self.run(
            "pg_ctl",
            &["-D", &data, "-l", &log, "-o", &options, "-w", "start"],
        );
    }

    /// Stops the server (`immediate`: a crash; `fast`: the administrator's shutdown).
    fn stop(&self, mode: &str) {
        let data = self.data().display().to_string();
        self.run("pg_ctl", &["-D", &data, "-m", mode, "-w", "stop"]);
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let data = self.data().display().to_string();
        let pg_ctl = self.bin.join("pg_ctl");
        let _ = if self.as_postgres {
            Command::new("runuser")
                .args(["-u", "postgres", "--"])
                .arg(pg_ctl)
                .args(["-D", &data, "-m", "immediate", "stop"])
                .output()
        } else {
            Command::new(pg_ctl)
                .args(["-D", &data, "-m", "immediate", "stop"])
                .output()
        };
    }
}

/// An answer and how long it took.
struct Answer {
    status: u16,
    retry_after: Option<String>,
    body: Value,
    took: Duration,
}

fn call(method: &str, url: &str, body: Option<Value>) -> Answer {
    let start = Instant::now();
    let auth = format!("Bearer {TOKEN}");
    let mut res = match (method, body) {
        ("POST", Some(b)) => agent().post(url).send_json(&b),
        _ => agent().get(url).header("authorization", &auth).call(),
    }
    .unwrap();
    let took = start.elapsed();
    Answer {
        status: res.status().as_u16(),
        retry_after: res
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        body: res.body_mut().read_json().unwrap_or(Value::Null),
        took,
    }
}

/// The calls that need the database: validate (with a lease), an admin list, and both
/// services' `/readyz`.
struct Calls<'a> {
    ks: &'a Instance,
    key: String,
}

impl Calls<'_> {
    fn validate(&self) -> Answer {
        call(
            "POST",
            &format!("{}/v1/production/validate", self.ks.validation),
            Some(json!({"key": self.key, "fingerprint": "laptop"})),
        )
    }

    fn admin(&self) -> Answer {
        call(
            "GET",
            &format!("{}/v1/production/licenses?limit=1", self.ks.admin),
            None,
        )
    }

    fn readyz(&self) -> [Answer; 2] {
        [
            call("GET", &format!("{}/readyz", self.ks.validation), None),
            call("GET", &format!("{}/readyz", self.ks.admin), None),
        ]
    }

    /// Every call answers 200 now.
    fn all_ok(&self) -> bool {
        let [a, b] = self.readyz();
        [self.validate(), self.admin(), a, b]
            .iter()
            .all(|r| r.status == 200)
    }
}

/// A 503 `UNAVAILABLE` with `Retry-After`, answered within a second.
fn assert_unavailable(what: &str, r: &Answer) {
    assert!(
        r.took <= SECOND,
        "{what} took {:?} during the outage",
        r.took
    );
    assert_eq!(r.status, 503, "{what} during the outage: {}", r.body);
    assert_eq!(r.body["error"]["code"], "UNAVAILABLE", "{what}: {}", r.body);
    assert!(r.retry_after.is_some(), "{what}: 503 without Retry-After");
}

fn threads(pid: u32) -> usize {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// `clients` threads calling validate and the admin list for `time`; every answer goes to `check`.
fn hammer(calls: &Calls<'_>, clients: usize, time: Duration, check: impl Fn(&str, &Answer) + Sync) {
    let end = Instant::now() + time;
    std::thread::scope(|s| {
        for i in 0..clients {
            let check = &check;
            s.spawn(move || {
                while Instant::now() < end {
                    if i % 2 == 0 {
                        check("validate", &calls.validate());
                    } else {
                        check("admin list", &calls.admin());
                    }
                }
            });
        }
    });
}

fn set_up_license(ks: &Instance) -> String {
    let p = ks.admin(
        "POST",
        "/products",
        Some(json!({"name": "Outage", "code": "OUTAGE"})),
    );
    let g = ks.admin("POST", "/generators", Some(json!({"product_id": p["id"], "name": "g", "format": {"kind": "chunked", "chunks": 4, "chunk_len": 4, "check": true}, "default_activation_limit": 3})));
    let c = ks.admin(
        "POST",
        "/customers",
        Some(json!({"name": "Ada", "email": "ada@outage.example.com"})),
    );
    let l = ks.admin(
        "POST",
        "/licenses",
        Some(json!({"product_id": p["id"], "generator_id": g["id"], "customer_id": c["id"]})),
    );
    let key = l["key"].as_str().unwrap().to_owned();
    let r = call(
        "POST",
        &format!("{}/v1/production/activate", ks.validation),
        Some(json!({"key": key, "fingerprint": "laptop"})),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    key
}

fn outage(pg: &Cluster, calls: &Calls<'_>, mode: &str, pid: u32) {
    const CLIENTS: usize = 16;
    // The same load before the outage, so the thread count below is the process's working set.
    hammer(calls, CLIENTS, Duration::from_millis(500), |what, r| {
        assert_eq!(r.status, 200, "{what} before the outage: {}", r.body);
    });
    let before = threads(pid);

    pg.stop(mode);
    let stopped = Instant::now();
    assert_unavailable("validate right after the stop", &calls.validate());
    assert_unavailable("admin list right after the stop", &calls.admin());
    hammer(calls, CLIENTS, Duration::from_secs(2), assert_unavailable);
    for r in calls.readyz() {
        assert!(
            r.took <= SECOND,
            "/readyz took {:?} during the outage",
            r.took
        );
        assert_eq!(r.status, 503, "/readyz during the outage: {}", r.body);
    }
    let during = threads(pid);
    assert!(
        during <= before + 8,
        "threads piled up during the outage: {before} before, {during} during"
    );
    eprintln!(
        "{mode} stop: 503s for {:?}; threads {before} before, {during} during",
        stopped.elapsed()
    );

    pg.start();
    let back = Instant::now();
    while !calls.all_ok() {
        assert!(
            back.elapsed() <= SECOND,
            "not every call answers 200 within 1 s of the database's return"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    eprintln!(
        "{mode} stop: full service {:?} after the return",
        back.elapsed()
    );
    // Nothing left over from before the outage fails a later request.
    hammer(calls, CLIENTS, Duration::from_millis(500), |what, r| {
        assert_eq!(r.status, 200, "{what} after the return: {}", r.body);
    });
}

#[test]
fn a_stopped_database_gets_fast_503s_and_service_resumes_within_a_second_of_its_return() {
    let Some(pg) = Cluster::start_new() else {
        return;
    };
    let data = tempfile::tempdir().unwrap();
    // No rate limits: the test sends one key hundreds of times a second.
    let unlimited =
        ["PER_KEY", "PER_IP", "UNKNOWN_PER_IP"].map(|l| (format!("KEYSMITH_RATE_{l}"), "0"));
    let vars: Vec<(&str, &str)> = unlimited.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    let ks = instance_with(data.path(), &pg.url(), true, &vars);
    let calls = Calls {
        key: set_up_license(&ks),
        ks: &ks,
    };
    assert!(calls.all_ok(), "every call answers 200 before the outage");
    let pid = ks.child.id();
    outage(&pg, &calls, "immediate", pid);
    outage(&pg, &calls, "fast", pid);
}
