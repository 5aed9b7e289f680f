use std::process::Command;

/// The committed example must stay a valid configuration.
#[test]
fn example_config_is_valid() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../weft.example.toml");
    let config =
        weft_server::config::Config::load(Some(std::path::Path::new(path)), Default::default())
            .unwrap();
    assert_eq!(config.listen.to_string(), "127.0.0.1:8008");
}

/// `weft serve` with a broken config exits non-zero, names the key, and
/// creates nothing.
#[test]
fn broken_config_fails_at_start_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("weft.toml");
    std::fs::write(&config, "listen = \"not an address\"\ndata_dir = \"d\"\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_weft"))
        .args(["serve", "--config"])
        .arg(&config)
        .current_dir(dir.path())
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("`listen`"), "{stderr}");
    assert!(
        !dir.path().join("d").exists(),
        "no data folder for a broken config"
    );

    std::fs::write(&config, "listen = \"127.0.0.1:0\"\nmystery = 1\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_weft"))
        .args(["serve", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("mystery"));
}

/// An unusable data folder is a clear, non-zero start failure.
#[test]
fn unusable_data_dir_fails_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let blocker = dir.path().join("file");
    std::fs::write(&blocker, b"x").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_weft"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(blocker.join("data"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("data_dir"), "{stderr}");
}

/// `weft user add` creates an account that can then log in.
#[test]
fn user_add_creates_an_account() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_weft"))
            .args(args)
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .output()
            .unwrap()
    };
    let out = run(&["user", "add", "admin", "--password", "pw", "--admin"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("@admin:localhost"));
    let again = run(&["user", "add", "admin", "--password", "pw"]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
}
