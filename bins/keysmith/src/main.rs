//! `keysmith`: the all-in-one server (`keysmith serve`) and the operator CLI. Reads the
//! configuration and calls library code; nothing here is worth testing on its own.

use clap::{Parser, Subcommand};
use license_http::config::Config;
use license_store::tokens::Role;
use license_store::{Actor, Store};
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
enum KeysCommand {
    /// Add a new active signing key and retire the old one (still published, still verifies).
    Rotate {
        #[arg(long)]
        env: String,
    },
}

fn fail(message: &str) -> ! {
    eprintln!("keysmith: {message}");
    std::process::exit(2)
}

fn config() -> Config {
    let config = Config::from_env().unwrap_or_else(|e| fail(&e.to_string()));
    license_http::telemetry::init_logging(&config.log, config.log_format)
        .unwrap_or_else(|e| fail(&e));
    config
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
        Command::Serve => serve(config()).await,
        Command::Migrate => {
            let config = config();
            license_http::startup::open_environments(&config).unwrap_or_else(|e| fail(&e));
            println!(
                "migrations applied to {} environment(s)",
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
        } => demo(&store(&config(), &env), &env, licenses, keys_out.as_deref()),
        Command::Openapi { service } => match service.as_str() {
            "validation" => println!("{}", license_http::validation_openapi()),
            "admin" => println!("{}", license_http::admin_openapi()),
            other => fail(&format!(
                "no OpenAPI document for {other:?}; try validation or admin"
            )),
        },
    }
}

fn demo(store: &Store, env: &str, extra: usize, keys_out: Option<&std::path::Path>) {
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

async fn serve(config: Config) {
    let envs = license_http::startup::open_environments(&config).unwrap_or_else(|e| fail(&e));
    license_http::bulk::spawn_job_worker(envs.clone());
    if config.worker {
        license_http::worker::spawn(envs.clone());
    }
    let admin_shared = license_http::Shared::admin(envs.clone(), &config.public_validation_url);
    let admin = license_http::serve_admin(
        admin_shared,
        config.admin_addr,
        config.admin_cors_origins.clone(),
    )
    .unwrap_or_else(|e| {
        fail(&format!(
            "KEYSMITH_ADMIN_ADDR: cannot listen on {}: {e}",
            config.admin_addr
        ))
    });
    let validation_shared = license_http::Shared::validation(envs, config.rates);
    let validation = license_http::serve_validation(validation_shared, config.validation_addr)
        .unwrap_or_else(|e| {
            fail(&format!(
                "KEYSMITH_VALIDATION_ADDR: cannot listen on {}: {e}",
                config.validation_addr
            ))
        });
    tracing::info!(admin = %config.admin_addr, validation = %config.validation_addr, "listening");
    // Both servers stop on SIGTERM/SIGINT, each draining its in-flight requests.
    let admin = actix_web::rt::spawn(admin);
    let results = [
        validation.await,
        admin
            .await
            .unwrap_or_else(|e| Err(std::io::Error::other(e))),
    ];
    for r in results {
        if let Err(e) = r {
            fail(&format!("server error: {e}"));
        }
    }
    tracing::info!("stopped");
}
