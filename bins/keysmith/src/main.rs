//! `keysmith`: the all-in-one server (`keysmith serve`) and the operator CLI. Reads the
//! configuration and calls library code; nothing here is worth testing on its own.

use clap::{Parser, Subcommand};
use license_http::config::Config;
use license_http::startup;
use license_store::control::{NewOperator, OperatorPatch};
use license_store::tokens::Role;
use license_store::{Actor, Store};
use std::collections::BTreeMap;
use time::OffsetDateTime;

#[derive(Parser)]
#[command(
    name = "keysmith",
    version,
    about = "Self-hosted software licensing server"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run every service in one process (the default).
    Serve,
    /// Apply pending migrations to every environment and exit.
    Migrate,
    /// Admin tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Operators: the people who sign in to the admin API and console.
    Operator {
        #[command(subcommand)]
        command: OperatorCommand,
    },
    /// Lease signing keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Create a demo product, generator, customer and one assigned license, and print its key.
    Demo {
        #[arg(long, default_value = "production")]
        env: String,
        /// Mint this many more licenses for the demo customer (for load tests), in batches of 500.
        #[arg(long, default_value_t = 0)]
        licenses: usize,
        /// Write every minted key, one per line, to this file.
        #[arg(long)]
        keys_out: Option<std::path::PathBuf>,
        /// Spread the extra licenses over this many new customers (ten each while they last; the
        /// rest stay available), as an operator's data would be; keys are not written then.
        #[arg(long, default_value_t = 0)]
        customers: usize,
    },
    /// Email (KEYSMITH_SMTP_URL, KEYSMITH_MAIL_FROM).
    Mail {
        #[command(subcommand)]
        command: MailCommand,
    },
    /// Print a service's OpenAPI document (`validation` or `admin`).
    Openapi {
        /// `validation`.
        service: String,
    },
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Create a token and print its secret (shown once).
    Create {
        #[arg(long)]
        env: String,
        /// admin, manager, support or viewer.
        #[arg(long)]
        role: String,
        #[arg(long)]
        name: String,
    },
}

#[derive(Subcommand)]
enum OperatorCommand {
    /// Create an operator; the password is read from standard input (or prompted), never argv.
    Create {
        #[arg(long)]
        email: String,
        /// Display name (default: the email).
        #[arg(long)]
        name: Option<String>,
        /// `admin` (or manager, support, viewer) in every environment, or `ENV=ROLE`; repeatable.
        #[arg(long = "role", required = true)]
        roles: Vec<String>,
    },
    /// List operators and their roles.
    List,
    /// Disable an operator (ends its sessions); the last admin of an environment cannot be.
    Disable {
        #[arg(long)]
        email: String,
    },
    /// Set an operator's password, read from standard input (or prompted); ends its sessions.
    ResetPassword {
        #[arg(long)]
        email: String,
    },
}

#[derive(Subcommand)]
enum MailCommand {
    /// Send a test email now through the configured relay, and say what happened.
    Test {
        /// The recipient.
        #[arg(long)]
        to: String,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Add a new active signing key and retire the old one (still published, still verifies).
    Rotate {
        #[arg(long)]
        env: String,
    },
}

fn fail(message: &str) -> ! {
    startup::fail("keysmith", message)
}

fn config() -> Config {
    startup::load_config().unwrap_or_else(|e| fail(&e))
}

/// Opens one environment's store for a CLI command.
fn store(config: &Config, env: &str) -> Store {
    let Some(e) = config.environments.iter().find(|e| e.name == env) else {
        let names: Vec<&str> = config
            .environments
            .iter()
            .map(|e| e.name.as_str())
            .collect();
        fail(&format!(
            "--env: no environment {env:?} (configured: {})",
            names.join(", ")
        ));
    };
    let (master, _) =
        license_http::master::load_or_create(&config.master_key_file).unwrap_or_else(|e| fail(&e));
    Store::open(&e.name, &e.database_url, &master)
        .unwrap_or_else(|err| fail(&format!("environment {env}: {err}")))
}

#[actix_web::main]
async fn main() {
    let cli = Cli::parse();
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => {
            startup::limit_malloc_arenas();
            startup::run_all(&config())
                .await
                .unwrap_or_else(|e| fail(&e));
        }
        Command::Migrate => {
            let config = config();
            startup::open_environments(&config).unwrap_or_else(|e| fail(&e));
            startup::open_control(&config).unwrap_or_else(|e| fail(&e));
            println!(
                "migrations applied to {} environment(s) and the control database",
                config.environments.len()
            );
        }
        Command::Token {
            command: TokenCommand::Create { env, role, name },
        } => {
            let config = config();
            let role = Role::parse(&role).unwrap_or_else(|| {
                fail(&format!(
                    "--role: {role:?} is not admin, manager, support or viewer"
                ))
            });
            let store = store(&config, &env);
            let actor = Actor::named("cli", "cli");
            let (token, secret) = store
                .create_token(&actor, OffsetDateTime::now_utc(), &name, role)
                .unwrap_or_else(|e| fail(&e.to_string()));
            eprintln!(
                "created {} token {:?} in {env}; the secret is shown once:",
                token.role.as_str(),
                token.name
            );
            println!("{secret}");
        }
        Command::Operator { command } => operator(&config(), command),
        Command::Keys {
            command: KeysCommand::Rotate { env },
        } => {
            let config = config();
            let store = store(&config, &env);
            store
                .ensure_signing_key(OffsetDateTime::now_utc())
                .unwrap_or_else(|e| fail(&e.to_string()));
            let kid = store
                .rotate_signing_key(OffsetDateTime::now_utc())
                .unwrap_or_else(|e| fail(&e.to_string()));
            println!(
                "new active signing key {kid} in {env}; the previous key is retired and still verifies"
            );
        }
        Command::Demo {
            env,
            licenses,
            keys_out,
            customers,
        } => demo(
            &store(&config(), &env),
            &env,
            licenses,
            customers,
            keys_out.as_deref(),
        ),
        Command::Mail {
            command: MailCommand::Test { to },
        } => mail_test(&config(), &to),
        Command::Openapi { service } => match service.as_str() {
            "validation" => println!("{}", license_http::validation_openapi()),
            "admin" => println!("{}", license_http::admin_openapi()),
            other => fail(&format!(
                "no OpenAPI document for {other:?}; try validation or admin"
            )),
        },
    }
}

fn demo(
    store: &Store,
    env: &str,
    extra: usize,
    customers: usize,
    keys_out: Option<&std::path::Path>,
) {
    let actor = Actor::named("cli", "demo");
    let now = OffsetDateTime::now_utc();
    fn ok<T>(r: Result<T, license_store::StoreError>) -> T {
        r.unwrap_or_else(|e| fail(&e.to_string()))
    }
    let seeded = ok(license_store::demo::seed(store, &actor, now));
    eprintln!(
        "created product {} and a license for {} in {env}; its key (shown once):",
        seeded.product.code, seeded.customer.email
    );
    println!("{}", seeded.key.expose());
    if customers > 0 {
        ok(license_store::demo::mint_spread(
            store, &actor, now, &seeded, extra, customers,
        ));
        eprintln!("minted {extra} more licenses over {customers} new customers");
        return;
    }
    let more = ok(license_store::demo::mint_more(
        store, &actor, now, &seeded, extra,
    ));
    if extra > 0 {
        eprintln!("minted {extra} more licenses");
    }
    if let Some(path) = keys_out {
        let keys: Vec<&str> = std::iter::once(&seeded.key)
            .chain(&more)
            .map(|k| k.expose())
            .collect();
        std::fs::write(path, keys.join("\n") + "\n")
            .unwrap_or_else(|e| fail(&format!("--keys-out {}: {e}", path.display())));
    }
}

/// A password from the terminal (asked twice, not echoed) or the first line of standard input.
fn read_password() -> String {
    use std::io::{BufRead, IsTerminal};
    let password = if std::io::stdin().is_terminal() {
        let first =
            rpassword::prompt_password("Password: ").unwrap_or_else(|e| fail(&e.to_string()));
        let again = rpassword::prompt_password("Again: ").unwrap_or_else(|e| fail(&e.to_string()));
        if first != again {
            fail("the two passwords differ");
        }
        first
    } else {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .unwrap_or_else(|e| fail(&format!("cannot read the password from stdin: {e}")));
        line.trim_end_matches(['\r', '\n']).to_owned()
    };
    license_http::credentials::check_password("password", &password)
        .unwrap_or_else(|e| fail(&e.to_string()));
    license_http::credentials::hash_password(&password).unwrap_or_else(|e| fail(&e.to_string()))
}

/// `--role admin` (every environment) or `--role ENV=ROLE` (repeatable).
fn parse_roles(config: &Config, specs: &[String]) -> BTreeMap<String, Role> {
    let role = |r: &str| {
        Role::parse(r).unwrap_or_else(|| {
            fail(&format!(
                "--role: {r:?} is not admin, manager, support or viewer"
            ))
        })
    };
    let mut roles = BTreeMap::new();
    for spec in specs {
        match spec.split_once('=') {
            None => {
                for e in &config.environments {
                    roles.insert(e.name.clone(), role(spec));
                }
            }
            Some((env, r)) => {
                if !config.environments.iter().any(|e| e.name == env) {
                    fail(&format!("--role: no environment {env:?}"));
                }
                roles.insert(env.to_owned(), role(r));
            }
        }
    }
    roles
}

fn operator(config: &Config, command: OperatorCommand) {
    let control = startup::open_control(config).unwrap_or_else(|e| fail(&e));
    let actor = Actor::named("cli", "cli");
    let now = OffsetDateTime::now_utc();
    let find = |email: &str| {
        control
            .login_record(email)
            .unwrap_or_else(|e| fail(&e.to_string()))
            .unwrap_or_else(|| fail(&format!("--email: no operator {email:?}")))
            .operator
    };
    match command {
        OperatorCommand::Create { email, name, roles } => {
            let roles = parse_roles(config, &roles);
            let new = NewOperator {
                name: name.unwrap_or_else(|| email.clone()),
                email,
                password_hash: Some(read_password()),
                roles,
            };
            let op = control
                .create_operator(&actor, now, new)
                .unwrap_or_else(|e| fail(&e.to_string()));
            println!(
                "created operator {} ({})",
                op.email,
                describe_roles(&op.roles)
            );
        }
        OperatorCommand::List => {
            let operators = control.operators().unwrap_or_else(|e| fail(&e.to_string()));
            for op in operators {
                let state = if op.disabled { " [disabled]" } else { "" };
                println!(
                    "{}\t{}\t{}{state}",
                    op.email,
                    op.name,
                    describe_roles(&op.roles)
                );
            }
        }
        OperatorCommand::Disable { email } => {
            let op = find(&email);
            let patch = OperatorPatch {
                disabled: Some(true),
                ..OperatorPatch::default()
            };
            control
                .update_operator(&actor, now, op.id, patch)
                .unwrap_or_else(|e| fail(&e.to_string()));
            println!("disabled {}; its sessions are ended", op.email);
        }
        OperatorCommand::ResetPassword { email } => {
            let op = find(&email);
            let hash = read_password();
            control
                .set_password(&actor, now, op.id, &hash, None)
                .unwrap_or_else(|e| fail(&e.to_string()));
            println!("password of {} set; its sessions are ended", op.email);
        }
    }
}

fn describe_roles(roles: &BTreeMap<String, Role>) -> String {
    roles
        .iter()
        .map(|(e, r)| format!("{e}={}", r.as_str()))
        .collect::<Vec<_>>()
        .join(",")
}

/// `keysmith mail test --to E`: one mail through the configured relay, synchronously.
fn mail_test(config: &Config, to: &str) {
    let Some(mail) = &config.mail else {
        fail("KEYSMITH_SMTP_URL: not set; email is off (set it and KEYSMITH_MAIL_FROM)");
    };
    let mailer = license_http::mailer::Mailer::new(mail).unwrap_or_else(|e| fail(&e.to_string()));
    let message = license_store::mail_templates::RenderedMail {
        subject: "Keysmith test email".into(),
        text: "This is a test email from Keysmith. Email works.\n".into(),
        html: "<p>This is a test email from Keysmith. Email works.</p>".into(),
    };
    match mailer.send(to, &message) {
        Ok(()) => println!("sent a test email to {to}"),
        Err(e) => fail(&format!(
            "the test email to {to} was not sent ({}): {}",
            e.class, e.detail
        )),
    }
}
