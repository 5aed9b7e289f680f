//! The `weft` command: run the homeserver, manage accounts.

use std::{path::PathBuf, process::ExitCode};

use clap::{Args, Parser, Subcommand};
use tracing_subscriber::EnvFilter;
use weft_server::config::{Config, Overrides, Registration};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Weft: a Matrix homeserver with a built-in web client.
///
/// Configuration comes from an optional TOML file (see weft.example.toml),
/// WEFT_* environment variables and flags, flags winning.
#[derive(Parser)]
#[command(name = "weft", version)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    common: Common,
}

#[derive(Args, Clone, Default)]
struct Common {
    /// Configuration file (TOML).
    #[arg(long, short, env = "WEFT_CONFIG", global = true)]
    config: Option<PathBuf>,
    /// Folder for the database and media [default: ./data].
    #[arg(long, env = "WEFT_DATA_DIR", global = true)]
    data_dir: Option<PathBuf>,
    /// The server name in user IDs (@alice:NAME) [default: localhost on loopback].
    #[arg(long, env = "WEFT_SERVER_NAME", global = true)]
    server_name: Option<String>,
    /// Log filter, e.g. `info` or `weft_server=debug` (RUST_LOG wins) [default: info,ruma_state_res=warn].
    #[arg(long, env = "WEFT_LOG", global = true)]
    log: Option<String>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the homeserver and web client (the default).
    Serve(ServeArgs),
    /// Manage accounts.
    #[command(subcommand)]
    User(UserCommand),
}

#[derive(Args, Default)]
struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:8008].
    #[arg(long, env = "WEFT_LISTEN")]
    listen: Option<String>,
    /// Who may register: open, token or closed [default: open on loopback, token otherwise].
    #[arg(long, env = "WEFT_REGISTRATION", value_enum)]
    registration: Option<Registration>,
    /// A registration token accepted in token mode (add more in the config file).
    #[arg(long, env = "WEFT_REGISTRATION_TOKEN", hide_env_values = true)]
    registration_token: Option<String>,
    /// Turn off rate limits (for benchmarks and load tests; never on a public server).
    #[arg(long, env = "WEFT_NO_RATE_LIMITS")]
    no_rate_limits: bool,
    /// Do not start the default embedded TURN relay (when there is no [turn] section).
    #[arg(long, env = "WEFT_NO_TURN_RELAY")]
    no_turn_relay: bool,
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create an account.
    Add {
        /// The user name (localpart), e.g. alice.
        name: String,
        /// The password; a random one is generated and printed if omitted.
        #[arg(long)]
        password: Option<String>,
        /// Make the account a server admin.
        #[arg(long)]
        admin: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let (serve, user) = match cli.command {
        None => (ServeArgs::default(), None),
        Some(Command::Serve(args)) => (args, None),
        Some(Command::User(cmd)) => (ServeArgs::default(), Some(cmd)),
    };
    let overrides = Overrides {
        listen: serve.listen,
        data_dir: cli.common.data_dir,
        server_name: cli.common.server_name,
        registration: serve.registration,
        registration_token: serve.registration_token,
        log: cli.common.log,
        rate_limits: serve.no_rate_limits.then_some(false),
        turn_relay: serve.no_turn_relay.then_some(false),
    };
    let config = match Config::load(cli.common.config.as_deref(), overrides) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("weft: {e}");
            return ExitCode::from(2);
        }
    };
    let filter = EnvFilter::try_from_default_env().or_else(|_| EnvFilter::try_new(&config.log));
    let filter = match filter {
        Ok(f) => f,
        Err(e) => {
            eprintln!("weft: configuration error in `log`: {e}");
            return ExitCode::from(2);
        }
    };
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .init();

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let result = runtime.block_on(async move {
        match user {
            Some(UserCommand::Add {
                name,
                password,
                admin,
            }) => add_user(config, name, password, admin).await,
            None => run(config).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("weft: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run(config: Config) -> Result<(), String> {
    let services = weft_server::open_services(&config).map_err(|e| e.to_string())?;
    // The services hold the configuration with defaults filled in (the TURN secret).
    let config = services.config().clone();
    let listener = weft_server::bind(&config)
        .await
        .map_err(|e| e.to_string())?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    tracing::info!(
        server_name = %config.server_name,
        data_dir = %config.data_dir.display(),
        registration = ?config.registration,
        "Weft is running at http://{addr}/"
    );
    if config.registration == Registration::Token && config.registration_tokens.is_empty() {
        tracing::warn!(
            "registration = token but no registration_tokens are set: nobody can register"
        );
    }
    let relay = match config
        .turn
        .as_ref()
        .and_then(|turn| turn.relay.as_ref().map(|relay| (turn, relay)))
    {
        Some((turn, relay)) => {
            match weft_server::turn_relay::Relay::start(
                relay,
                &turn.shared_secret,
                config.server_name.as_str(),
            )
            .await
            {
                Ok(started) => {
                    tracing::info!(addr = %started.addr, uris = ?turn.uris, "TURN relay is running");
                    Some(started)
                }
                // The default relay is a convenience: a taken port must not stop the server.
                Err(e) if turn.automatic => {
                    tracing::warn!(
                        "the default TURN relay could not listen on {} ({e}); calls that need a relay \
                         will not connect. Configure [turn] or start with --no-turn-relay.",
                        relay.listen
                    );
                    None
                }
                Err(e) => return Err(format!("turn.relay_listen {}: {e}", relay.listen)),
            }
        }
        None => None,
    };
    let result = weft_server::serve(listener, services, shutdown_signal())
        .await
        .map_err(|e| e.to_string());
    if let Some(relay) = relay {
        relay.close().await;
    }
    result
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { () = ctrl_c => {}, () = term => {} }
    tracing::info!("shutting down");
}

async fn add_user(
    config: Config,
    name: String,
    password: Option<String>,
    admin: bool,
) -> Result<(), String> {
    let services = weft_server::open_services(&config).map_err(|e| e.to_string())?;
    let user_id = services
        .accounts
        .new_user_id_for(&name)
        .map_err(|e| e.to_string())?;
    let (password, generated) = match password {
        Some(p) if !p.is_empty() => (p, false),
        Some(_) => return Err("--password must not be empty".into()),
        None => {
            use rand::distr::{Alphanumeric, SampleString};
            (Alphanumeric.sample_string(&mut rand::rng(), 20), true)
        }
    };
    let created = services
        .accounts
        .create_account(&user_id, Some(password.clone()), admin)
        .await
        .map_err(|e| e.to_string())?;
    if !created {
        return Err(format!("{user_id} already exists"));
    }
    println!("Created {user_id}{}", if admin { " (admin)" } else { "" });
    if generated {
        println!("Password: {password}");
    }
    Ok(())
}
