CREATE TABLE cross_signing_keys (
    user_id TEXT NOT NULL,
    key_type TEXT NOT NULL,
    json TEXT NOT NULL,
    PRIMARY KEY (user_id, key_type)
);
CREATE TABLE foreign_signatures (
    target_user TEXT NOT NULL,
    key_id TEXT NOT NULL,
    signer TEXT NOT NULL,
    signatures TEXT NOT NULL,
    PRIMARY KEY (target_user, key_id, signer)
);
