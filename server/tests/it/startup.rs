use weft_server::config::Registration;

use crate::harness::test_config;

#[test]
fn data_dir_that_is_a_file_fails_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, b"x").unwrap();
    let mut config = test_config(dir.path(), Registration::Open);
    config.data_dir = file.clone();
    let err = weft_server::open_services(&config)
        .err()
        .expect("must fail")
        .to_string();
    assert!(err.contains("not a directory"), "{err}");
    assert_eq!(std::fs::read(&file).unwrap(), b"x", "nothing overwritten");
}

#[test]
fn failed_first_start_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path(), Registration::Open);
    // A database file that is not SQLite: opening it fails after the folder exists.
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::write(
        data.join(weft_server::DATABASE_FILE),
        b"this is not a database",
    )
    .unwrap();
    config.data_dir = data.clone();
    let err = weft_server::open_services(&config)
        .err()
        .expect("must fail")
        .to_string();
    assert!(err.contains("database"), "{err}");
    // The pre-existing folder and file are the user's; they stay as they were.
    assert_eq!(
        std::fs::read(data.join(weft_server::DATABASE_FILE)).unwrap(),
        b"this is not a database"
    );

    // A folder we create for a start that then fails is removed again, with every parent
    // folder the start created for it. The folders can be made and written, but SQLite
    // cannot open a database under a path over 512 bytes, so the start fails only after
    // creating them.
    let fresh = dir.path().join("fresh");
    let mut config = test_config(dir.path(), Registration::Open);
    config.data_dir = fresh
        .join("a".repeat(200))
        .join("b".repeat(200))
        .join("c".repeat(200));
    let err = weft_server::open_services(&config)
        .err()
        .expect("must fail")
        .to_string();
    assert!(err.contains("database"), "{err}");
    assert!(!fresh.exists(), "the folders this start created are gone");
    assert!(
        dir.path().exists() && data.exists(),
        "folders it did not create stay"
    );
}

#[test]
fn restart_keeps_the_signing_key_and_accounts() {
    let dir = tempfile::tempdir().unwrap();
    let config = test_config(dir.path(), Registration::Open);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let services = weft_server::open_services(&config).unwrap();
    let user = services.accounts.user_id_for("zed").unwrap();
    assert!(
        rt.block_on(
            services
                .accounts
                .create_account(&user, Some("pw".into()), false)
        )
        .unwrap()
    );
    let key = services.signing_public_key();
    drop(services);
    let again = weft_server::open_services(&config).unwrap();
    assert_eq!(again.signing_public_key(), key);
    assert!(again.accounts.user_exists(&user).unwrap());
}
