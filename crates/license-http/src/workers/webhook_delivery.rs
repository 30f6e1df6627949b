//! Posting webhook deliveries: the JSON body `{"id","type","created_at","environment","data"}`,
//! `Keysmith-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "t.body">`, `Keysmith-Event-Id` for the
//! receiver's idempotency, a 10 s timeout, and every attempt recorded by the store.
//!
//! Isolation: a dispatcher thread claims a few due deliveries of one endpoint at a time and hands
//! them to a task thread; at most [`Options::concurrency`] tasks run at once across every
//! environment, at most one per endpoint, so a slow or dead endpoint holds one task and never
//! delays the others. Each endpoint has a breaker: after [`Options::breaker_threshold`] failures
//! in a row it opens (30 s, doubling to 10 minutes) and the endpoint's claimed deliveries go back
//! unsent until then. While a task works, the dispatcher renews its claims, so a slow endpoint
//! never lets another worker claim and send the same delivery.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use license_store::delivery::{Attempt, CLAIM_LEASE, Outgoing};
use ring::hmac;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::egress::{self, WebhookPolicy};
use crate::environments::{Environment, Environments};

/// How the delivery worker shares its time.
#[derive(Debug, Clone)]
pub struct Options {
    /// Deliveries in flight at once, across every environment and endpoint.
    pub concurrency: usize,
    /// Deliveries claimed per endpoint and task (sent one after the other).
    pub per_endpoint: i64,
    /// How far a claim (or its renewal) pushes a delivery's next attempt.
    pub claim_lease: Duration,
    /// How often the claims of running tasks are renewed.
    pub renew_every: std::time::Duration,
    /// Failures in a row that open an endpoint's breaker.
    pub breaker_threshold: u32,
    /// How long a breaker first stays open (doubling each time it opens again, up to
    /// [`Options::breaker_max`]).
    pub breaker_open: Duration,
    /// The longest a breaker stays open.
    pub breaker_max: Duration,
    /// Time between two dispatch rounds when nothing finishes sooner.
    pub tick: std::time::Duration,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            concurrency: 8,
            per_endpoint: 50,
            claim_lease: CLAIM_LEASE,
            renew_every: std::time::Duration::from_secs(20),
            breaker_threshold: 5,
            breaker_open: Duration::seconds(30),
            breaker_max: Duration::minutes(10),
            tick: std::time::Duration::from_millis(500),
        }
    }
}

/// An endpoint's breaker: failures in a row, how often it opened since the last success, and
/// until when it is open.
#[derive(Debug, Default, Clone)]
struct Breaker {
    failures: u32,
    trips: u32,
    open_until: Option<OffsetDateTime>,
}

impl Breaker {
    fn is_open(&self, now: OffsetDateTime) -> bool {
        self.open_until.is_some_and(|t| now < t)
    }

    /// Records an attempt; returns the time until which the breaker is now open, if it opened.
    fn record(&mut self, ok: bool, now: OffsetDateTime, o: &Options) -> Option<OffsetDateTime> {
        if ok {
            *self = Self::default();
            return None;
        }
        self.failures += 1;
        if self.failures < o.breaker_threshold.max(1) {
            return None;
        }
        self.trips += 1;
        let factor = 1i32 << (self.trips - 1).min(16);
        let open = (o.breaker_open * factor).min(o.breaker_max);
        // Half-open once the time is up: the next failure opens it again.
        self.failures = o.breaker_threshold.saturating_sub(1);
        self.open_until = Some(now + open);
        self.open_until
    }
}

/// An environment and endpoint.
type Key = (String, Uuid);

#[derive(Debug, Default)]
struct State {
    breakers: HashMap<Key, Breaker>,
    /// Deliveries claimed by a running task and not yet recorded, per endpoint.
    in_flight: HashMap<Key, Vec<Uuid>>,
}

/// Deliveries claimed for one endpoint, sent in order by one task.
#[derive(Debug)]
pub struct Task {
    endpoint: Uuid,
    deliveries: Vec<Outgoing>,
}

/// The delivery worker's state in this process: the HTTP agent, endpoints in flight, breakers.
#[derive(Debug)]
pub struct Deliverer {
    agent: ureq::Agent,
    options: Options,
    state: Mutex<State>,
}

impl Deliverer {
    /// A deliverer posting through an agent for `policy`.
    pub fn new(policy: &WebhookPolicy, options: Options) -> Self {
        Self {
            agent: egress::agent(policy),
            options,
            state: Mutex::default(),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Tasks running now.
    pub fn in_flight(&self) -> usize {
        self.state().in_flight.len()
    }

    /// Fans new events out, then claims deliveries for up to `max_tasks` endpoints of `env`
    /// that have no task running and no open breaker; each becomes a [`Task`], registered as in
    /// flight until [`Deliverer::run`] finishes it.
    pub fn claim(&self, env: &Environment, now: OffsetDateTime, max_tasks: usize) -> Vec<Task> {
        let store = env.store();
        loop {
            match store.fan_out(now, 500) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(environment = env.name(), error = %e, "webhook fan-out failed");
                    break;
                }
            }
        }
        if max_tasks == 0 {
            return Vec::new();
        }
        let skip: Vec<Uuid> = {
            let s = self.state();
            s.in_flight
                .keys()
                .filter(|(e, _)| e == env.name())
                .map(|(_, id)| *id)
                .chain(
                    s.breakers
                        .iter()
                        .filter(|((e, _), b)| e == env.name() && b.is_open(now))
                        .map(|((_, id), _)| *id),
                )
                .collect()
        };
        let o = &self.options;
        let claimed = match store.claim_deliveries(
            now,
            o.claim_lease,
            &skip,
            o.per_endpoint,
            max_tasks,
        ) {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(environment = env.name(), error = %e, "cannot claim webhook deliveries");
                return Vec::new();
            }
        };
        let mut tasks: Vec<Task> = Vec::new();
        for d in claimed {
            match tasks.last_mut() {
                Some(t) if t.endpoint == d.endpoint_id => t.deliveries.push(d),
                _ => tasks.push(Task {
                    endpoint: d.endpoint_id,
                    deliveries: vec![d],
                }),
            }
        }
        let mut s = self.state();
        for t in &tasks {
            s.in_flight.insert(
                (env.name().to_owned(), t.endpoint),
                t.deliveries.iter().map(|d| d.delivery_id).collect(),
            );
        }
        tasks
    }

    /// Sends a task's deliveries one after the other, recording each attempt; stops early when
    /// the endpoint's breaker opens, giving the rest back unsent until it closes. Returns the
    /// attempts made.
    pub fn run(&self, env: &Environment, task: Task, clock: impl Fn() -> OffsetDateTime) -> usize {
        let key = (env.name().to_owned(), task.endpoint);
        let mut attempts = 0;
        for (i, o) in task.deliveries.iter().enumerate() {
            let attempt = post(&self.agent, env.name(), o, clock());
            attempts += 1;
            let now = clock();
            if let Err(e) = env.store().record_attempt(now, o.delivery_id, &attempt) {
                tracing::warn!(environment = env.name(), delivery = %o.delivery_id, error = %e, "cannot record a webhook attempt");
            }
            let opened = {
                let mut s = self.state();
                if let Some(ids) = s.in_flight.get_mut(&key) {
                    ids.retain(|id| *id != o.delivery_id);
                }
                s.breakers.entry(key.clone()).or_default().record(
                    attempt.succeeded(),
                    now,
                    &self.options,
                )
            };
            if let Some(until) = opened {
                let rest: Vec<Uuid> = task.deliveries[i + 1..]
                    .iter()
                    .map(|d| d.delivery_id)
                    .collect();
                tracing::warn!(
                    environment = env.name(),
                    endpoint = %task.endpoint,
                    until = %until,
                    "webhook endpoint keeps failing: breaker open, its deliveries wait"
                );
                if let Err(e) = env.store().release_claims(until, &rest) {
                    tracing::warn!(environment = env.name(), error = %e, "cannot release webhook claims");
                }
                break;
            }
        }
        self.state().in_flight.remove(&key);
        attempts
    }

    /// Renews the claims of every delivery a running task still holds.
    pub fn renew(&self, envs: &Environments, now: OffsetDateTime) {
        let held: Vec<(String, Vec<Uuid>)> = {
            let s = self.state();
            s.in_flight
                .iter()
                .map(|((e, _), ids)| (e.clone(), ids.clone()))
                .collect()
        };
        for (name, ids) in held {
            if let Some(env) = envs.get(&name)
                && let Err(e) = env
                    .store()
                    .renew_claims(now, self.options.claim_lease, &ids)
            {
                tracing::warn!(environment = %name, error = %e, "cannot renew webhook claims");
            }
        }
    }

    /// One delivery pass over `env` in the calling thread: fan out, claim for every endpoint
    /// that is free, send, record. Returns the attempts made. (The running service uses
    /// [`spawn`]; tests drive this with a clock of their own.)
    pub fn pass(&self, env: &Environment, clock: impl Fn() -> OffsetDateTime) -> usize {
        let tasks = self.claim(env, clock(), usize::MAX);
        tasks.into_iter().map(|t| self.run(env, t, &clock)).sum()
    }
}

/// The running delivery worker; dropping it (or [`DeliveryWorker::stop`]) ends the dispatcher
/// (tasks in flight finish their current attempt and record it).
#[derive(Debug)]
pub struct DeliveryWorker {
    stop: Arc<AtomicBool>,
}

impl DeliveryWorker {
    /// Asks the dispatcher to stop.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }

    /// Lets the dispatcher run for the life of the process.
    pub fn detach(self) {
        std::mem::forget(self);
    }
}

impl Drop for DeliveryWorker {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Starts the dispatcher thread over every environment (see the module docs).
pub fn spawn(envs: Environments, deliverer: Arc<Deliverer>) -> DeliveryWorker {
    let stop = Arc::new(AtomicBool::new(false));
    let stopping = stop.clone();
    std::thread::spawn(move || {
        let (done_tx, done_rx) = mpsc::channel::<()>();
        let mut last_renew = Instant::now();
        while !stopping.load(Ordering::Relaxed) {
            if last_renew.elapsed() >= deliverer.options.renew_every {
                deliverer.renew(&envs, OffsetDateTime::now_utc());
                last_renew = Instant::now();
            }
            for env in envs.iter() {
                let free = deliverer
                    .options
                    .concurrency
                    .saturating_sub(deliverer.in_flight());
                for task in deliverer.claim(env, OffsetDateTime::now_utc(), free) {
                    let (d, env, done) = (deliverer.clone(), env.clone(), done_tx.clone());
                    std::thread::spawn(move || {
                        d.run(&env, task, OffsetDateTime::now_utc);
                        let _ = done.send(());
                    });
                }
            }
            // Wake at the next tick, or as soon as a task finishes (its endpoint is free again).
            let _ = done_rx.recv_timeout(deliverer.options.tick);
            while done_rx.try_recv().is_ok() {}
        }
    });
    DeliveryWorker { stop }
}

/// `t=<unix>,v1=<hex>`: HMAC-SHA256 with the endpoint's secret over `"{t}.{body}"`.
pub fn signature(secret: &str, t: i64, body: &str) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
    let tag = hmac::sign(&key, format!("{t}.{body}").as_bytes());
    let hex: String = tag.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("t={t},v1={hex}")
}

/// The JSON body of a delivery: `{"id","type","created_at","environment","data"}`.
#[derive(serde::Serialize)]
struct Body<'a> {
    id: uuid::Uuid,
    #[serde(rename = "type")]
    event_type: &'a str,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    environment: &'a str,
    data: &'a license_store::model::JsonObject,
}

fn body(env: &str, o: &Outgoing) -> String {
    let body = Body {
        id: o.event.id,
        event_type: &o.event.event_type,
        created_at: o.event.created_at,
        environment: env,
        data: &o.event.data,
    };
    serde_json::to_string(&body).unwrap_or_default()
}

/// Posts one delivery and says how it went: the status code, or the class of the failure
/// (`egress::error_class`; `http_status` beside the code of a non-2xx answer) — never the
/// answer's body.
pub fn post(agent: &ureq::Agent, env: &str, o: &Outgoing, now: OffsetDateTime) -> Attempt {
    let body = body(env, o);
    let started = Instant::now();
    let result = agent
        .post(&o.url)
        .header("content-type", "application/json")
        .header(
            "keysmith-signature",
            &signature(&o.secret, now.unix_timestamp(), &body),
        )
        .header("keysmith-event-id", &o.event.id.to_string())
        .header("user-agent", "keysmith-webhooks/1")
        .send(&body);
    let latency_ms = i32::try_from(started.elapsed().as_millis()).unwrap_or(i32::MAX);
    match result {
        Ok(res) => {
            let code = res.status().as_u16();
            Attempt {
                status_code: Some(i32::from(code)),
                latency_ms,
                error: (!(200..300).contains(&code)).then(|| "http_status".to_owned()),
            }
        }
        Err(e) => Attempt {
            status_code: None,
            latency_ms,
            error: Some(egress::error_class(&e).to_owned()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_hmac_sha256_of_t_dot_body() {
        // Reference value computed with Python's hmac module.
        assert_eq!(
            signature("whsec_test", 1_800_000_000, "{\"a\":1}"),
            "t=1800000000,v1=7de5e6bbc99c65ef0ddccacd4308ba03a5a12eb8859a0db070c5ca731c4fdc19"
        );
    }
}
