//! The admin console in a real browser: headless Chromium driven over WebDriver (chromedriver)
//! against the real `keysmith` binary on a fresh data folder. Elements are found by role and
//! accessible name, never by CSS class. Each page is checked with axe-core (vendored) and
//! photographed at 1280 and 390 px into `target/console-screenshots/`.
//!
//! Without chromedriver the tests print why and pass locally; in CI (`CI` set) they fail.
#![expect(clippy::unwrap_used, reason = "test: any failure fails the test")]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const ADMIN_TOKEN: &str = "ks_console_bootstrap_token_0123456789ab";
const PASSWORD: &str = "console test passphrase";
const AXE: &str = include_str!("vendor/axe-core/axe.min.js");
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into()
}

/// Kills a child process when dropped.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wait_for(url: &str, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while agent().get(url).call().is_err() {
        assert!(Instant::now() < deadline, "{what} did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `keysmith` on a fresh data folder: an operator per role, the demo product, and licenses.
struct Server {
    _child: Guard,
    admin: String,
    validation: String,
    _dir: tempfile::TempDir,
}

fn keysmith(dir: &Path, args: &[&str], stdin: &str) -> String {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_keysmith"))
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("KEYSMITH_DATA_DIR", dir)
        .env("KEYSMITH_ENVIRONMENTS", "production,staging")
        .env("KEYSMITH_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "keysmith {args:?} failed");
    String::from_utf8(out.stdout).unwrap()
}

impl Server {
    fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let pw = format!("{PASSWORD}\n");
        keysmith(
            dir.path(),
            &[
                "operator",
                "create",
                "--email",
                "admin@example.com",
                "--name",
                "Ada Admin",
                "--role",
                "admin",
            ],
            &pw,
        );
        keysmith(
            dir.path(),
            &[
                "operator",
                "create",
                "--email",
                "viewer@example.com",
                "--name",
                "Vic Viewer",
                "--role",
                "viewer",
            ],
            &pw,
        );
        let (admin_port, validation_port) = (free_port(), free_port());
        let child = Command::new(env!("CARGO_BIN_EXE_keysmith"))
            .arg("serve")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("KEYSMITH_DATA_DIR", dir.path())
            .env("KEYSMITH_ENVIRONMENTS", "production,staging")
            .env("KEYSMITH_ADMIN_ADDR", format!("127.0.0.1:{admin_port}"))
            .env(
                "KEYSMITH_VALIDATION_ADDR",
                format!("127.0.0.1:{validation_port}"),
            )
            .env("KEYSMITH_ADMIN_TOKEN", ADMIN_TOKEN)
            .env("KEYSMITH_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let admin = format!("http://127.0.0.1:{admin_port}");
        wait_for(&format!("{admin}/healthz"), "keysmith");
        Server {
            _child: Guard(child),
            admin,
            validation: format!("http://127.0.0.1:{validation_port}"),
            _dir: dir,
        }
    }

    /// An admin API call with the bootstrap token.
    fn api(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}/v1/production{path}", self.admin);
        let auth = format!("Bearer {ADMIN_TOKEN}");
        let mut res = match (method, body) {
            ("GET", _) => agent()
                .get(&url)
                .header("authorization", &auth)
                .call()
                .unwrap(),
            (_, Some(b)) => agent()
                .post(&url)
                .header("authorization", &auth)
                .send_json(&b)
                .unwrap(),
            (_, None) => agent()
                .post(&url)
                .header("authorization", &auth)
                .send_empty()
                .unwrap(),
        };
        assert!(
            res.status().is_success(),
            "{method} {path}: {}",
            res.status()
        );
        res.body_mut().read_json().unwrap_or(Value::Null)
    }

    /// A product, a generator and `n` licenses (some assigned); returns the product id.
    fn seed(
        &self,
        name: &str,
        code: &str,
        available: usize,
        assigned: usize,
    ) -> (String, Vec<String>) {
        let p = self.api(
            "POST",
            "/products",
            Some(json!({"name": name, "code": code})),
        );
        let pid = p["id"].as_str().unwrap().to_owned();
        let g = self.api("POST", "/generators", Some(json!({"product_id": pid, "name": format!("{name} keys"), "format": {"kind": "chunked", "chunks": 4, "chunk_len": 4, "check": true}, "default_activation_limit": 2})));
        let gid = g["id"].as_str().unwrap();
        let mut keys = Vec::new();
        for i in 0..available + assigned {
            let mut body = json!({"product_id": pid, "generator_id": gid});
            if i >= available {
                let c = self.api("POST", "/customers", Some(json!({"name": format!("Customer {code}{i}"), "email": format!("c{i}@{}.example.com", code.to_lowercase())})));
                body["customer_id"] = c["id"].clone();
            }
            keys.push(
                self.api("POST", "/licenses", Some(body))["key"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            );
        }
        (pid, keys)
    }
}

/// A WebDriver session on headless Chromium.
struct Browser {
    _driver: Guard,
    base: String,
    shots: PathBuf,
}

impl Browser {
    /// `None` (with the reason printed) when chromedriver is missing and this is not CI.
    fn start() -> Option<Self> {
        let driver = ["chromedriver", "/usr/bin/chromedriver"]
            .into_iter()
            .find(|d| {
                Command::new(d)
                    .arg("--version")
                    .stdout(Stdio::null())
                    .status()
                    .is_ok_and(|s| s.success())
            });
        let Some(driver) = driver else {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI must run the browser tests: install chromium and chromium-driver"
            );
            eprintln!(
                "skipping browser test: chromedriver is not installed (apt-get install chromium chromium-driver)"
            );
            return None;
        };
        let port = free_port();
        let child = Command::new(driver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let url = format!("http://127.0.0.1:{port}");
        wait_for(&format!("{url}/status"), "chromedriver");
        let caps = json!({"capabilities": {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": {
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,900"]
        }}}});
        let mut res = agent()
            .post(format!("{url}/session"))
            .send_json(&caps)
            .unwrap();
        let v: Value = res.body_mut().read_json().unwrap();
        let id = v["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no WebDriver session: {v}"))
            .to_owned();
        let shots = PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../target/console-screenshots"
        ));
        std::fs::create_dir_all(&shots).unwrap();
        Some(Browser {
            _driver: Guard(child),
            base: format!("{url}/session/{id}"),
            shots,
        })
    }

    fn cmd(&self, method: &str, path: &str, body: Value) -> Value {
        let url = format!("{}{path}", self.base);
        let mut res = if method == "GET" {
            agent().get(&url).call().unwrap()
        } else {
            agent().post(&url).send_json(&body).unwrap()
        };
        let v: Value = res.body_mut().read_json().unwrap();
        if let Some(err) = v["value"].get("error") {
            panic!("WebDriver {path}: {err} {}", v["value"]["message"]);
        }
        v["value"].clone()
    }

    fn open(&self, url: &str) {
        self.cmd("POST", "/url", json!({"url": url}));
    }

    fn js(&self, script: &str, args: Value) -> Value {
        self.cmd(
            "POST",
            "/execute/sync",
            json!({"script": script, "args": args}),
        )
    }

    /// Waits until `script` (a function body returning a truthy value) holds.
    fn until(&self, what: &str, script: &str, args: Value) -> Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let v = self.js(script, args.clone());
            if !(v.is_null() || v == json!(false) || v == json!("")) {
                return v;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; page: {}",
                self.text()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn text(&self) -> String {
        self.js(
            "return document.body ? document.body.innerText.slice(0, 2000) : ''",
            json!([]),
        )
        .as_str()
        .unwrap_or_default()
        .to_owned()
    }

    /// The element with this ARIA role and accessible name (waits for it).
    fn find(&self, role: &str, name: &str) -> Value {
        self.until(
            &format!("{role} {name:?}"),
            FIND_BY_ROLE,
            json!([role, name]),
        )
    }

    fn exists(&self, role: &str, name: &str) -> bool {
        !self.js(FIND_BY_ROLE, json!([role, name])).is_null()
    }

    fn click(&self, role: &str, name: &str) {
        let el = self.find(role, name);
        self.cmd(
            "POST",
            &format!("/element/{}/click", el[ELEMENT].as_str().unwrap()),
            json!({}),
        );
    }

    fn type_into(&self, role: &str, name: &str, text: &str) {
        let el = self.find(role, name);
        let id = el[ELEMENT].as_str().unwrap();
        self.cmd("POST", &format!("/element/{id}/clear"), json!({}));
        self.cmd(
            "POST",
            &format!("/element/{id}/value"),
            json!({"text": text}),
        );
    }

    /// Chooses an option; outside a dialog, waits for the page it leads to (a new list).
    fn select(&self, name: &str, option: &str) {
        let el = self.find("combobox", name);
        let in_page = self.js("document.querySelectorAll('section[aria-busy]').forEach(s => s.dataset.old = '1'); return !arguments[0].closest('dialog') && !!document.querySelector('section[aria-busy]');", json!([el]));
        self.js("const s = arguments[0]; const o = [...s.options].find(o => o.textContent.startsWith(arguments[1])); s.value = o.value; s.dispatchEvent(new Event('change', {bubbles: true}));", json!([el, option]));
        if in_page == json!(true) {
            self.until(
                &format!("the page after choosing {option:?}"),
                "return document.querySelector('section[aria-busy=\"false\"]:not([data-old])')",
                json!([]),
            );
        }
    }

    /// Real key presses (for shortcuts): `keys` as WebDriver key values.
    fn press(&self, keys: &[&str]) {
        let actions: Vec<Value> = keys
            .iter()
            .flat_map(|k| {
                [
                    json!({"type": "keyDown", "value": k}),
                    json!({"type": "keyUp", "value": k}),
                ]
            })
            .collect();
        self.cmd(
            "POST",
            "/actions",
            json!({"actions": [{"type": "key", "id": "keyboard", "actions": actions}]}),
        );
    }

    fn url(&self) -> String {
        self.cmd("GET", "/url", json!({}))
            .as_str()
            .unwrap()
            .to_owned()
    }

    fn back(&self) {
        self.cmd("POST", "/back", json!({}));
    }

    /// Photographs the page at 1280 and 390 px wide as `<name>-1280.png`, `<name>-390.png`.
    fn screenshots(&self, name: &str) {
        for width in [1280, 390] {
            self.cmd(
                "POST",
                "/window/rect",
                json!({"width": width, "height": 900}),
            );
            std::thread::sleep(Duration::from_millis(150));
            let png = self.cmd("GET", "/screenshot", json!({}));
            std::fs::write(
                self.shots.join(format!("{name}-{width}.png")),
                base64_decode(png.as_str().unwrap()),
            )
            .unwrap();
        }
        self.cmd(
            "POST",
            "/window/rect",
            json!({"width": 1280, "height": 900}),
        );
    }

    /// axe-core on the page: no serious or critical violation.
    fn assert_accessible(&self, page: &str) {
        self.js(AXE, json!([]));
        let v = self.cmd("POST", "/execute/async", json!({"script": "const done = arguments[arguments.length - 1]; axe.run(document, {resultTypes: ['violations']}).then(r => done(r.violations.filter(v => v.impact === 'serious' || v.impact === 'critical').map(v => v.id + ': ' + v.help + ' — ' + v.nodes.map(n => n.target.join(' ')).slice(0, 3).join(', ')))).catch(e => done(['axe failed: ' + e]));", "args": []}));
        assert_eq!(
            v,
            json!([]),
            "{page}: serious or critical accessibility violations"
        );
    }
}

/// Standard base64 (WebDriver screenshots), without a dependency for it.
fn base64_decode(s: &str) -> Vec<u8> {
    let val = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        _ => 63,
    };
    let bytes: Vec<u8> = s
        .bytes()
        .filter(|c| *c != b'=' && !c.is_ascii_whitespace())
        .collect();
    let mut out = Vec::with_capacity(bytes.len() * 3 / 4);
    for chunk in bytes.chunks(4) {
        let n = chunk.iter().enumerate().fold(0u32, |acc, (i, c)| {
            acc | (u32::from(val(*c)) << (18 - 6 * i))
        });
        out.extend_from_slice(&n.to_be_bytes()[1..chunk.len()]);
    }
    out
}

/// Finds an element by ARIA role and accessible name (exact, or a prefix ending in "…").
const FIND_BY_ROLE: &str = r#"
const [role, name] = arguments;
const sel = {
  button: 'button, [role=button], input[type=submit], input[type=button]',
  link: 'a[href]', textbox: 'input:not([type]), input[type=text], input[type=email], input[type=password], input[type=number], input[type=date], textarea',
  searchbox: 'input[type=search]', combobox: 'select', menuitem: '[role=menuitem]', dialog: 'dialog[open]',
  heading: 'h1, h2, h3', row: 'tr', cell: 'td, th', status: '[role=status], output', radio: 'input[type=radio]',
}[role] || `[role=${role}]`;
const visible = (e) => !!(e.offsetWidth || e.offsetHeight || e.getClientRects().length);
const label = (e) => {
  if (e.getAttribute('aria-label')) return e.getAttribute('aria-label');
  if (e.getAttribute('aria-labelledby')) return e.getAttribute('aria-labelledby').split(' ').map(id => document.getElementById(id)?.textContent || '').join(' ');
  if (e.labels && e.labels.length) return [...e.labels].map(l => l.textContent).join(' ');
  if (e.tagName === 'INPUT' && e.closest('label')) return e.closest('label').textContent;
  return e.textContent;
};
const norm = (s) => (s || '').replace(/\s+/g, ' ').trim();
const scope = [...document.querySelectorAll('dialog[open]')].pop() || document;
const all = [...scope.querySelectorAll(sel)].filter(visible);
const want = norm(name);
return all.find(e => norm(label(e)) === want) || (want.endsWith('…') ? all.find(e => norm(label(e)).startsWith(want.slice(0, -1))) : null) || null;
"#;

fn sign_in(b: &Browser, server: &Server, email: &str) {
    b.open(&format!("{}/admin/", server.admin));
    b.find("heading", "Sign in to Keysmith");
    b.type_into("textbox", "Email", email);
    b.type_into("textbox", "Password", PASSWORD);
    b.click("button", "Sign in");
    b.find("heading", "Dashboard");
}

/// Rows of the license table, as text.
fn rows(b: &Browser) -> Vec<String> {
    let v = b.js("return [...document.querySelectorAll('table.licenses tbody tr')].map(r => r.innerText.replace(/\\s+/g, ' '))", json!([]));
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_owned())
        .collect()
}

fn wait_rows(b: &Browser, what: &str, pred: &str) {
    // While the list re-renders the table may be gone: a predicate that fails then means "not yet".
    b.until(what, &format!("const rows = [...document.querySelectorAll('table.licenses tbody tr')].map(r => r.innerText); try {{ return {pred}; }} catch (e) {{ return false; }}"), json!([]));
}

#[test]
fn the_operator_day_in_a_real_browser() {
    let Some(b) = Browser::start() else { return };
    let server = Server::start();
    let (pro, pro_keys) = server.seed("Acme Pro", "PRO", 3, 2);
    server.seed("Acme Trial", "TRIAL", 1, 1);

    // Sign-in, the shell, the dashboard.
    b.open(&format!("{}/admin/licenses", server.admin));
    b.find("heading", "Sign in to Keysmith");
    b.assert_accessible("sign-in");
    b.screenshots("sign-in");
    b.type_into("textbox", "Email", "admin@example.com");
    b.type_into("textbox", "Password", "not the passphrase");
    b.click("button", "Sign in");
    b.until(
        "the refusal",
        "return document.body.innerText.includes('email, password or code is not right')",
        json!([]),
    );
    b.type_into("textbox", "Password", PASSWORD);
    b.click("button", "Sign in");
    b.find("heading", "License Keys");
    assert!(
        b.url().ends_with("/admin/licenses"),
        "sign-in returns to the page asked for"
    );
    assert!(
        b.text().contains("PRODUCTION"),
        "production is unmistakable"
    );
    wait_rows(&b, "7 licenses", "rows.length === 7");
    b.assert_accessible("license keys");
    b.screenshots("licenses");

    // Use case 1: assign an available Pro license to a new customer.
    b.select("Product", "Acme Pro");
    b.select("Status", "Available");
    wait_rows(
        &b,
        "3 available Pro licenses",
        "rows.length === 3 && rows.every(r => r.includes('available'))",
    );
    assert!(
        b.url().contains(&format!("product={pro}")) && b.url().contains("status=available"),
        "the filters are in the URL: {}",
        b.url()
    );
    let first = rows(&b)[0].split(' ').next().unwrap().to_owned();
    b.click("button", &format!("Actions for {first}"));
    b.click("menuitem", "Assign");
    b.find("heading", &format!("Assign {first}"));
    b.type_into("textbox", "Name", "Grace Hopper");
    b.type_into("textbox", "Email", "grace@navy.example.org");
    b.click("button", "Assign");
    wait_rows(&b, "one fewer available", "rows.length === 2");
    b.select("Status", "Assigned");
    b.until("Grace's license", "return [...document.querySelectorAll('table.licenses tbody tr')].some(r => r.innerText.includes('grace@navy.example.org'))", json!([]));

    // Use case 3: a leaked key found by partial search, revoked.
    b.select("Status", "All Statuses");
    wait_rows(
        &b,
        "every Pro license again",
        "rows.length === 5 && !location.search.includes('status=')",
    );
    let leaked = &pro_keys[4];
    let fragment = &leaked[leaked.len() - 4..];
    b.press(&["/"]);
    assert_eq!(
        b.js("return document.activeElement.type", json!([])),
        "search",
        "/ focuses the search box"
    );
    b.type_into("searchbox", "Search licenses", fragment);
    wait_rows(
        &b,
        "the leaked key",
        &format!("rows.length >= 1 && rows.every(r => r.includes('{fragment}'))"),
    );
    assert!(b.url().contains(&format!("q={fragment}")));
    let display = rows(&b)[0].split(' ').next().unwrap().to_owned();
    b.click("button", &format!("Actions for {display}"));
    b.click("menuitem", "Revoke");
    b.find("heading", &format!("Revoke {display}?"));
    b.click("button", "Revoke license");
    wait_rows(&b, "revoked", "rows[0].includes('revoked')");

    // Use case 2: "limit reached" — preview shows the devices; deactivate one.
    let assigned_key = &pro_keys[3];
    for fp in ["laptop-1", "desktop-2"] {
        let mut r = agent()
            .post(format!("{}/v1/production/activate", server.validation))
            .send_json(json!({"key": assigned_key, "fingerprint": fp}))
            .unwrap();
        assert!(
            r.status().is_success(),
            "{}",
            r.body_mut().read_to_string().unwrap()
        );
    }
    let mut full = agent()
        .post(format!("{}/v1/production/activate", server.validation))
        .send_json(json!({"key": assigned_key, "fingerprint": "phone-3"}))
        .unwrap();
    assert_eq!(
        full.body_mut().read_json::<Value>().unwrap()["code"],
        "LIMIT_EXCEEDED"
    );
    b.type_into(
        "searchbox",
        "Search licenses",
        &assigned_key[assigned_key.len() - 4..],
    );
    wait_rows(
        &b,
        "the full license",
        "rows.length >= 1 && rows[0].includes('2 / 2')",
    );
    let display = rows(&b)[0].split(' ').next().unwrap().to_owned();
    b.click("button", &format!("Actions for {display}"));
    b.click("menuitem", "Preview");
    b.find("heading", &format!("Preview {display}"));
    b.find("link", "Download offline file");
    b.find("button", "Copy curl sample");
    b.assert_accessible("preview dialog");
    b.screenshots("preview");
    b.click("button", "Deactivate instance laptop-1");
    b.click("button", "Deactivate instance");
    b.until("laptop deactivated", "return [...document.querySelectorAll('dialog table tbody tr')].some(r => r.innerText.includes('laptop-1') && r.innerText.includes('deactivated'))", json!([]));
    b.press(&["\u{E00C}"]);
    b.until(
        "the dialog closed by Esc",
        "return !document.querySelector('dialog[open]')",
        json!([]),
    );
    let mut again = agent()
        .post(format!("{}/v1/production/activate", server.validation))
        .send_json(json!({"key": assigned_key, "fingerprint": "phone-3"}))
        .unwrap();
    assert_eq!(
        again.body_mut().read_json::<Value>().unwrap()["code"],
        "ACTIVATED",
        "the freed slot takes the new device"
    );

    // Bookmarks and Back restore a filtered, sorted view.
    let bookmark = format!(
        "{}/admin/licenses?product={pro}&status=assigned&sort=expires&order=asc",
        server.admin
    );
    b.open(&bookmark);
    wait_rows(
        &b,
        "the bookmarked view",
        "rows.length >= 1 && rows.every(r => r.includes('assigned') && r.includes('Acme Pro'))",
    );
    assert_eq!(
        b.js(
            "return document.getElementById('filter-status').value",
            json!([])
        ),
        "assigned"
    );
    assert!(b.text().contains("Sort: Expires, ascending"));
    b.click("button", "Sort: Expires, ascending");
    b.click("radio", "Created");
    b.click("radio", "Descending (Z→A, 9→0, newest or farthest first)");
    b.click("button", "Apply sort");
    b.until(
        "the new sort",
        "return location.search.indexOf('sort=') === -1",
        json!([]),
    );
    b.back();
    b.until(
        "Back restores the sort",
        "return document.body.innerText.includes('Sort: Expires, ascending')",
        json!([]),
    );

    // Create License shows the key once, with a copy button.
    b.open(&format!("{}/admin/licenses", server.admin));
    b.click("button", "Create License");
    b.find("heading", "Create License");
    b.type_into("textbox", "Activation limit", "0");
    b.click("button", "Create license");
    b.until("the limit error next to its field", "return document.querySelector('[data-field=activation_limit] .field-error')?.textContent.includes('activation_limit')", json!([]));
    b.type_into("textbox", "Activation limit", "5");
    b.click("button", "Create license");
    b.find("heading", "License created");
    b.find("button", "Copy license key");
    b.click("button", "Done");

    // The account page and the dashboard.
    b.click("link", "Account");
    b.find("heading", "Account");
    b.assert_accessible("account");
    b.screenshots("account");
    b.click("link", "Dashboard");
    b.find("heading", "Licenses by status");
    b.assert_accessible("dashboard");
    b.screenshots("dashboard");

    // Staging looks different, and switching keeps the page.
    b.click("link", "License Keys");
    b.find("heading", "License Keys");
    b.select("Environment", "staging");
    b.until(
        "staging",
        "return document.body.innerText.includes('STAGING — not production')",
        json!([]),
    );
    assert!(b.url().ends_with("/admin/licenses"));
    b.find("heading", "License Keys");
    b.screenshots("licenses-staging");
}

#[test]
fn a_viewer_is_offered_no_destructive_action() {
    let Some(b) = Browser::start() else { return };
    let server = Server::start();
    server.seed("Acme Pro", "PRO", 1, 1);
    sign_in(&b, &server, "viewer@example.com");
    b.click("link", "License Keys");
    wait_rows(&b, "licenses", "rows.length === 2");
    assert!(!b.exists("button", "Create License"));
    assert!(!b.exists("link", "Export CSV"));
    let menus = b.js(
        "return document.querySelectorAll('[aria-haspopup=menu]').length",
        json!([]),
    );
    assert_eq!(menus, 0, "a viewer gets no actions menu");
    b.screenshots("licenses-viewer");
}

#[test]
fn console_responses_carry_the_security_headers() {
    let server = Server::start();
    for path in [
        "/admin/",
        "/admin/licenses?status=active",
        "/admin/app.js",
        "/admin/style.css",
    ] {
        let res = agent()
            .get(format!("{}{path}", server.admin))
            .call()
            .unwrap();
        assert_eq!(res.status().as_u16(), 200, "{path}");
        let h = res.headers();
        let csp = h.get("content-security-policy").unwrap().to_str().unwrap();
        assert!(
            csp.contains("default-src 'self'")
                && csp.contains("script-src 'self'")
                && !csp.contains("unsafe-inline"),
            "{path}: {csp}"
        );
        assert_eq!(h.get("x-frame-options").unwrap(), "DENY", "{path}");
    }
    let missing = agent()
        .get(format!("{}/admin/nope.js", server.admin))
        .call()
        .unwrap();
    assert_eq!(
        missing.status().as_u16(),
        404,
        "a missing file is not the page shell"
    );
}

#[test]
fn trial_expiry_and_an_audit_of_distribution_with_export() {
    let Some(b) = Browser::start() else { return };
    let server = Server::start();
    let (pro, _) = server.seed("Acme Pro", "PRO", 2, 3);
    let (trial, _) = server.seed("Acme Trial", "TRIAL", 0, 1);
    // A trial that ends in two seconds; a validation after that expires it (lazily, SPEC §4).
    let gens = server.api("GET", &format!("/generators?product={trial}"), None);
    let soon = time::OffsetDateTime::now_utc() + time::Duration::seconds(2);
    let c = server.api(
        "POST",
        "/customers",
        Some(json!({"name": "Tia Trial", "email": "tia@trial.example.com"})),
    );
    let lic = server.api("POST", "/licenses", Some(json!({"product_id": trial, "generator_id": gens["items"][0]["id"], "customer_id": c["id"],
        "expires_at": soon.format(&time::format_description::well_known::Rfc3339).unwrap()})));
    std::thread::sleep(Duration::from_millis(2500));
    let mut r = agent()
        .post(format!("{}/v1/production/validate", server.validation))
        .send_json(json!({"key": lic["key"]}))
        .unwrap();
    assert_eq!(
        r.body_mut().read_json::<Value>().unwrap()["code"],
        "EXPIRED"
    );

    sign_in(&b, &server, "admin@example.com");
    // Use case 4: expired trials, found with filters, revoked; a paid license assigned instead.
    b.open(&format!(
        "{}/admin/licenses?product={trial}&status=expired",
        server.admin
    ));
    wait_rows(
        &b,
        "the expired trial",
        "rows.length === 1 && rows[0].includes('expired') && rows[0].includes('tia@trial.example.com')",
    );
    let display = rows(&b)[0].split(' ').next().unwrap().to_owned();
    b.click("button", &format!("Actions for {display}"));
    assert!(
        !b.exists("menuitem", "Edit"),
        "an expired license cannot be edited"
    );
    b.click("menuitem", "Revoke");
    b.click("button", "Revoke license");
    wait_rows(&b, "gone from expired", "rows.length === 0");
    b.find("button", "Clear search and filters");
    b.select("Status", "All Statuses");
    b.select("Product", "Acme Pro");
    b.select("Status", "Available");
    wait_rows(&b, "a paid license", "rows.length === 2");
    let paid = rows(&b)[0].split(' ').next().unwrap().to_owned();
    b.click("button", &format!("Actions for {paid}"));
    b.click("menuitem", "Assign");
    b.type_into("searchbox", "Find customer", "tia@");
    b.until("Tia in the list", "return [...document.querySelectorAll('dialog select option')].some(o => o.textContent.includes('tia@trial.example.com'))", json!([]));
    b.select("Customer", "Tia Trial");
    b.click("button", "Assign");
    wait_rows(&b, "one available left", "rows.length === 1");

    // Use case 5: how many active-or-assigned Pro licenses, and the export of that view.
    b.select("Status", "Assigned");
    wait_rows(&b, "assigned Pro", "rows.length === 4");
    b.until(
        "the total",
        "return document.body.innerText.includes('Showing 1–4 of 4')",
        json!([]),
    );
    let href = b.find("link", "Export CSV");
    let csv = b.js(
        "return fetch(arguments[0].href).then(r => r.text())",
        json!([href]),
    );
    let csv = csv.as_str().unwrap();
    assert!(csv.starts_with("id,key_display,status,"), "{csv}");
    assert_eq!(
        csv.lines().count(),
        1 + 4,
        "the export holds the view: {csv}"
    );
    assert!(
        csv.lines().skip(1).all(|l| l.contains(",assigned,PRO,")),
        "{csv}"
    );
    assert!(b.url().contains(&format!("product={pro}")));
    b.screenshots("licenses-filtered");
}

#[test]
fn the_first_admin_sets_up_from_the_one_time_link() {
    let Some(b) = Browser::start() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (admin_port, validation_port) = (free_port(), free_port());
    let log_path = dir.path().join("log");
    let child = Command::new(env!("CARGO_BIN_EXE_keysmith"))
        .arg("serve")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("KEYSMITH_DATA_DIR", dir.path())
        .env("KEYSMITH_ENVIRONMENTS", "production,staging")
        .env("KEYSMITH_ADMIN_ADDR", format!("127.0.0.1:{admin_port}"))
        .env(
            "KEYSMITH_VALIDATION_ADDR",
            format!("127.0.0.1:{validation_port}"),
        )
        .env("KEYSMITH_LOG", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log_path).unwrap())
        .spawn()
        .unwrap();
    let _guard = Guard(child);
    wait_for(
        &format!("http://127.0.0.1:{admin_port}/healthz"),
        "keysmith",
    );
    let log = std::fs::read_to_string(&log_path).unwrap();
    let at = log.find("/admin/setup#").unwrap();
    let start = log[..at].rfind("http://").unwrap();
    let link: String = log[start..]
        .chars()
        .take_while(|c| !c.is_whitespace())
        .collect();
    b.open(&link);
    b.find("heading", "Create the first admin");
    b.assert_accessible("setup");
    b.screenshots("setup");
    b.type_into("textbox", "Email", "first@example.com");
    b.type_into("textbox", "Name", "First Admin");
    b.type_into("textbox", "Password", "short");
    b.click("button", "Create admin and sign in");
    b.until("the password rule next to its field", "return document.querySelector('[data-field=password] .field-error')?.textContent.includes('12')", json!([]));
    b.type_into("textbox", "Password", PASSWORD);
    b.click("button", "Create admin and sign in");
    b.find("heading", "Dashboard");
    assert!(!b.url().contains('#'), "the secret leaves the address bar");
    b.find("heading", "Licenses by status");
    assert!(
        b.text().contains("No licenses yet"),
        "the empty state says what to do next"
    );
    b.click("button", "Sign out");
    b.find("heading", "Sign in to Keysmith");
}
