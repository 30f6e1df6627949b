//! The browser-test harness: the real `keysmith` binary on a fresh data folder ([`Server`]) and
//! headless Chromium over WebDriver ([`Browser`]), elements found by ARIA role and accessible name.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

pub(crate) const ADMIN_TOKEN: &str = "ks_console_bootstrap_token_0123456789ab";
pub(crate) const PASSWORD: &str = "console test passphrase";
const AXE: &str = include_str!("../vendor/axe-core/axe.min.js");
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

pub(crate) use crate::common::{agent, free_port, wait_for};

/// Kills a child process when dropped.
pub(crate) struct Guard(pub(crate) Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `keysmith` on a fresh data folder: an operator per role, the demo product, and licenses.
pub(crate) struct Server {
    _child: Guard,
    pub(crate) admin: String,
    pub(crate) validation: String,
    dir: tempfile::TempDir,
}

/// `keysmith <args>` on `dir` (both environments); its standard output.
pub(crate) fn keysmith(dir: &Path, args: &[&str], stdin: &str) -> String {
    let out = crate::common::cli(dir, "production,staging", args, stdin);
    assert!(
        out.status.success(),
        "keysmith {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

impl Server {
    pub(crate) fn start() -> Self {
        Self::start_with(&[])
    }

    /// As [`Server::start`], sending email through the SMTP relay at `smtp_url` (the test sink).
    pub(crate) fn with_mail(smtp_url: &str) -> Self {
        Self::start_with(&[
            ("KEYSMITH_SMTP_URL", smtp_url),
            (
                "KEYSMITH_MAIL_FROM",
                "Acme Licensing <licenses@acme.example>",
            ),
        ])
    }

    /// As [`Server::start`], with extra environment variables for `keysmith serve` (SMTP).
    fn start_with(vars: &[(&str, &str)]) -> Self {
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
        Self::launch(dir, true, vars)
    }

    /// `keysmith serve` on an empty data folder, no operator and no token: the first-run path.
    /// Its log (at `info`) is in [`Server::log`].
    pub(crate) fn bare() -> Self {
        Self::launch(tempfile::tempdir().unwrap(), false, &[])
    }

    fn launch(dir: tempfile::TempDir, with_token: bool, vars: &[(&str, &str)]) -> Self {
        let (admin_port, validation_port) = (free_port(), free_port());
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_keysmith"));
        cmd.arg("serve")
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
            // The webhook pages deliver a ping to a receiver on 127.0.0.1.
            .env("KEYSMITH_WEBHOOK_ALLOW_PRIVATE", "1")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("server.log")).unwrap());
        if with_token {
            cmd.env("KEYSMITH_ADMIN_TOKEN", ADMIN_TOKEN);
        }
        cmd.envs(vars.iter().copied());
        let child = cmd.spawn().unwrap();
        let admin = format!("http://127.0.0.1:{admin_port}");
        wait_for(&format!("{admin}/healthz"), "keysmith");
        Server {
            _child: Guard(child),
            admin,
            validation: format!("http://127.0.0.1:{validation_port}"),
            dir,
        }
    }

    /// What the server has logged so far.
    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap()
    }

    /// An admin API call with the bootstrap token (GET, PUT with a body, else POST).
    pub(crate) fn api(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}/v1/production{path}", self.admin);
        let auth = format!("Bearer {ADMIN_TOKEN}");
        let mut res = match (method, body) {
            ("GET", _) => agent()
                .get(&url)
                .header("authorization", &auth)
                .call()
                .unwrap(),
            ("PUT", Some(b)) => agent()
                .put(&url)
                .header("authorization", &auth)
                .send_json(&b)
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

    /// Activates `key` on a device through the validation API; returns the response body.
    pub(crate) fn activate(&self, key: &str, fingerprint: &str, name: &str) -> Value {
        let mut res = agent()
            .post(format!("{}/v1/production/activate", self.validation))
            .send_json(json!({"key": key, "fingerprint": fingerprint, "name": name}))
            .unwrap();
        assert!(res.status().is_success(), "activate: {}", res.status());
        res.body_mut().read_json().unwrap()
    }

    /// A product, a generator and `n` licenses (some assigned); returns the product id.
    pub(crate) fn seed(
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
pub(crate) struct Browser {
    _driver: Guard,
    base: String,
    shots: PathBuf,
    downloads: tempfile::TempDir,
}

impl Browser {
    /// `None` (with the reason printed) when chromedriver is missing and this is not CI.
    pub(crate) fn start() -> Option<Self> {
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
        let downloads = tempfile::tempdir().unwrap();
        let caps = json!({"capabilities": {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": {
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,900"],
            "prefs": {"download.default_directory": downloads.path(), "download.prompt_for_download": false}
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
            downloads,
        })
    }

    pub(crate) fn cmd(&self, method: &str, path: &str, body: Value) -> Value {
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

    pub(crate) fn open(&self, url: &str) {
        self.cmd("POST", "/url", json!({"url": url}));
    }

    pub(crate) fn js(&self, script: &str, args: Value) -> Value {
        self.cmd(
            "POST",
            "/execute/sync",
            json!({"script": script, "args": args}),
        )
    }

    /// Waits until `script` (a function body returning a truthy value) holds.
    pub(crate) fn until(&self, what: &str, script: &str, args: Value) -> Value {
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

    pub(crate) fn text(&self) -> String {
        self.js(
            "return document.body ? document.body.innerText.slice(0, 2000) : ''",
            json!([]),
        )
        .as_str()
        .unwrap_or_default()
        .to_owned()
    }

    /// The element with this ARIA role and accessible name (waits for it).
    pub(crate) fn find(&self, role: &str, name: &str) -> Value {
        self.until(
            &format!("{role} {name:?}"),
            FIND_BY_ROLE,
            json!([role, name]),
        )
    }

    pub(crate) fn exists(&self, role: &str, name: &str) -> bool {
        !self.js(FIND_BY_ROLE, json!([role, name])).is_null()
    }

    pub(crate) fn click(&self, role: &str, name: &str) {
        self.on_element(role, name, |id| {
            self.try_cmd(&format!("/element/{id}/click"), json!({}))
        });
    }

    /// Runs `act` on the element with this role and name. An element found just as the page
    /// re-renders can be gone by the next command (a stale element reference): it is found
    /// again, as a person would look again.
    fn on_element(
        &self,
        role: &str,
        name: &str,
        act: impl Fn(&str) -> Result<Value, String>,
    ) -> Value {
        let mut attempt = 0;
        loop {
            let el = self.find(role, name);
            match act(el[ELEMENT].as_str().unwrap()) {
                Ok(v) => return v,
                Err(e) if attempt < 2 && e.contains("stale element") => attempt += 1,
                Err(e) => panic!("{e}"),
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub(crate) fn type_into(&self, role: &str, name: &str, text: &str) {
        self.on_element(role, name, |id| {
            self.try_cmd(&format!("/element/{id}/clear"), json!({}))?;
            self.try_cmd(&format!("/element/{id}/value"), json!({"text": text}))
        });
    }

    /// A POST command whose WebDriver error is returned rather than fatal.
    fn try_cmd(&self, path: &str, body: Value) -> Result<Value, String> {
        let mut res = agent()
            .post(format!("{}{path}", self.base))
            .send_json(&body)
            .unwrap();
        let v: Value = res.body_mut().read_json().unwrap();
        match v["value"].get("error") {
            Some(err) => Err(format!("WebDriver {path}: {err} {}", v["value"]["message"])),
            None => Ok(v["value"].clone()),
        }
    }

    /// Chooses an option; outside a dialog, waits for the page it leads to (a new list).
    pub(crate) fn select(&self, name: &str, option: &str) {
        // One script marks the old page and makes the choice, so a page that re-renders between
        // the find and the choice (after a save) costs a second look, not a stale reference.
        const CHOOSE: &str = "const s = arguments[0]; document.querySelectorAll('section[aria-busy]').forEach(x => x.dataset.old = '1'); const inPage = !s.closest('dialog') && !!document.querySelector('section[aria-busy]'); const o = [...s.options].find(o => o.textContent.startsWith(arguments[1])); s.value = o.value; s.dispatchEvent(new Event('change', {bubbles: true})); return inPage;";
        let in_page = self.on_element("combobox", name, |id| {
            let el = json!({ELEMENT: id});
            self.try_cmd(
                "/execute/sync",
                json!({"script": CHOOSE, "args": [el, option]}),
            )
        });
        if in_page == json!(true) {
            self.until(
                &format!("the page after choosing {option:?}"),
                "return document.querySelector('section[aria-busy=\"false\"]:not([data-old])')",
                json!([]),
            );
        }
    }

    /// Real key presses (for shortcuts): `keys` as WebDriver key values.
    pub(crate) fn press(&self, keys: &[&str]) {
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

    /// Waits for a finished download named `name` and returns its text.
    pub(crate) fn downloaded(&self, name: &str) -> String {
        let path = self.downloads.path().join(name);
        let deadline = Instant::now() + Duration::from_secs(30);
        while !path.exists() {
            assert!(Instant::now() < deadline, "no download {name}");
            std::thread::sleep(Duration::from_millis(100));
        }
        std::fs::read_to_string(path).unwrap()
    }

    /// A key chord: every key pressed in order, then released in reverse (Control+K).
    pub(crate) fn chord(&self, keys: &[&str]) {
        let down = keys.iter().map(|k| json!({"type": "keyDown", "value": k}));
        let up = keys
            .iter()
            .rev()
            .map(|k| json!({"type": "keyUp", "value": k}));
        let actions: Vec<Value> = down.chain(up).collect();
        self.cmd(
            "POST",
            "/actions",
            json!({"actions": [{"type": "key", "id": "keyboard", "actions": actions}]}),
        );
    }

    /// Waits until the page's table rows satisfy `pred` (JS over `rows`, an array of strings).
    pub(crate) fn wait_table(&self, what: &str, pred: &str) {
        self.until(what, &format!("const rows = [...document.querySelectorAll('main table tbody tr')].map(r => r.innerText); try {{ return {pred}; }} catch (e) {{ return false; }}"), json!([]));
    }

    /// Waits until the page's text contains `text`.
    pub(crate) fn wait_text(&self, text: &str) {
        self.until(
            &format!("{text:?} on the page"),
            "return document.body.innerText.includes(arguments[0])",
            json!([text]),
        );
    }

    /// The error shown next to the field labelled `label` (its `aria-describedby` text), once
    /// the field is marked invalid.
    pub(crate) fn field_error(&self, label: &str) -> String {
        let el = self.find("textbox", label);
        self.until(
            &format!("an error next to {label:?}"),
            "const e = arguments[0]; return e.getAttribute('aria-invalid') === 'true' && document.getElementById(e.getAttribute('aria-describedby'))?.textContent;",
            json!([el]),
        )
        .as_str()
        .unwrap()
        .to_owned()
    }

    /// Waits for a confirmation (a toast) that contains `text`.
    pub(crate) fn toast(&self, text: &str) {
        self.until(
            &format!("the message {text:?}"),
            "return [...document.querySelectorAll('[role=status] p')].some(p => p.textContent.includes(arguments[0]))",
            json!([text]),
        );
    }

    pub(crate) fn url(&self) -> String {
        self.cmd("GET", "/url", json!({}))
            .as_str()
            .unwrap()
            .to_owned()
    }

    pub(crate) fn back(&self) {
        self.cmd("POST", "/back", json!({}));
    }

    /// Photographs the page at 1280 and 390 px wide as `<name>-1280.png`, `<name>-390.png`.
    pub(crate) fn screenshots(&self, name: &str) {
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
    pub(crate) fn assert_accessible(&self, page: &str) {
        self.js(AXE, json!([]));
        let v = self.cmd("POST", "/execute/async", json!({"script": "const done = arguments[arguments.length - 1]; axe.run(document, {resultTypes: ['violations']}).then(r => done(r.violations.filter(v => v.impact === 'serious' || v.impact === 'critical').map(v => v.id + ': ' + v.help + ' — ' + v.nodes.map(n => n.target.join(' ')).slice(0, 3).join(', ')))).catch(e => done(['axe failed: ' + e]));", "args": []}));
        assert_eq!(
            v,
            json!([]),
            "{page}: serious or critical accessibility violations"
        );
    }
}

impl Drop for Browser {
    /// Ends the WebDriver session, which quits Chromium, before the driver itself is killed:
    /// killing only chromedriver left every test's browser running.
    fn drop(&mut self) {
        let _ = agent().delete(&self.base).call();
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
  link: 'a[href]', textbox: 'input:not([type]), input[type=text], input[type=email], input[type=url], input[type=password], input[type=number], input[type=date], input[type=datetime-local], textarea',
  checkbox: 'input[type=checkbox]',
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

pub(crate) fn sign_in(b: &Browser, server: &Server, email: &str) {
    b.open(&format!("{}/admin/", server.admin));
    b.find("heading", "Sign in to Keysmith");
    b.type_into("textbox", "Email", email);
    b.type_into("textbox", "Password", PASSWORD);
    b.click("button", "Sign in");
    b.find("heading", "Dashboard");
}

/// Rows of the license table, as text.
pub(crate) fn rows(b: &Browser) -> Vec<String> {
    let v = b.js("return [...document.querySelectorAll('table.licenses tbody tr')].map(r => r.innerText.replace(/\\s+/g, ' '))", json!([]));
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_owned())
        .collect()
}

pub(crate) fn wait_rows(b: &Browser, what: &str, pred: &str) {
    // While the list re-renders the table may be gone: a predicate that fails then means "not yet".
    b.until(what, &format!("const rows = [...document.querySelectorAll('table.licenses tbody tr')].map(r => r.innerText); try {{ return {pred}; }} catch (e) {{ return false; }}"), json!([]));
}

/// Waits until `pred` (JavaScript over `rows`, the texts of the rows of the table in the region
/// named `region`) holds; while the list re-renders, a failing predicate means "not yet".
pub(crate) fn wait_region(b: &Browser, region: &str, what: &str, pred: &str) {
    b.until(what, &format!("const t = document.querySelector(`[role=region][aria-label=\"${{arguments[0]}}\"]`); if (!t) return false; const rows = [...t.querySelectorAll('tbody tr')].map(r => r.innerText.replace(/\\s+/g, ' ')); try {{ return {pred}; }} catch (e) {{ return false; }}"), json!([region]));
}

/// Signs out and waits for the sign-in page.
pub(crate) fn sign_out(b: &Browser) {
    b.click("button", "Sign out");
    b.find("heading", "Sign in to Keysmith");
}
