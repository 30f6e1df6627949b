//! A program that gates a feature on its license: the whole `license-client` integration.
//!
//! With a Keysmith server running (`cargo run -p keysmith -- serve`) and a key
//! (`cargo run -p keysmith -- demo`):
//!
//! ```sh
//! cargo run -p license-client --example guarded_app -- activate <KEY>
//! cargo run -p license-client --example guarded_app              # checks, then works
//! cargo run -p license-client --example guarded_app -- deactivate
//! ```
//!
//! `KEYSMITH_VALIDATION_URL` (default `http://127.0.0.1:8081`) and `KEYSMITH_ENV` (default
//! `production`) pick the server.

use license_client::{Client, Status, fingerprint};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url =
        std::env::var("KEYSMITH_VALIDATION_URL").unwrap_or_else(|_| "http://127.0.0.1:8081".into());
    let env = std::env::var("KEYSMITH_ENV").unwrap_or_else(|_| "production".into());
    let client = Client::builder(url, env)
        // A real program uses its per-user data folder.
        .cache_dir(std::env::temp_dir().join("keysmith-guarded-app"))
        .fingerprint(fingerprint::machine("dev.keysmith.guarded-app")?)
        .build()?;
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["activate", key] => {
            let status =
                client.activate(key, Some("guarded-app demo"), Some(std::env::consts::OS))?;
            println!("activation: {status:?}");
        }
        ["deactivate"] => {
            client.deactivate()?;
            println!("deactivated: the slot is free for another machine");
        }
        [] => work(&client, &client.check()?),
        _ => return Err("usage: guarded_app [activate KEY | deactivate]".into()),
    }
    Ok(())
}

/// The program itself: runs only when licensed; exporting needs the `pro` entitlement.
fn work(client: &Client, status: &Status) {
    if !status.is_licensed() {
        eprintln!("not licensed ({status:?}); run `guarded_app activate <KEY>`");
        std::process::exit(2);
    }
    if let Status::Offline { lease_valid_until } = status {
        println!("offline: licensed until {lease_valid_until}");
    }
    println!("editing works");
    let pro = client
        .claims()
        .is_some_and(|c| c.ent.get("pro") == Some(&true.into()));
    if pro {
        println!("export works (pro)");
    } else {
        println!("export needs a pro license");
    }
}
