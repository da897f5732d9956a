//! A throw-away certificate authority and a server certificate for `127.0.0.1`, made with the
//! `openssl` command line tool.
//!
//! Why generate instead of checking files in: test certificates in a repository expire, get
//! copied into real deployments, and teach nothing about how the server is set up. Two days of
//! validity, an EC key, and a subject alternative name for the loopback address are all a TLS
//! test on this machine needs.

use std::path::{Path, PathBuf};
use std::process::Command;

/// PEM files of a private CA and a server certificate signed by it (valid for `IP:127.0.0.1`).
#[derive(Debug, Clone)]
pub struct TestTls {
    dir: PathBuf,
}

impl TestTls {
    /// Generates `ca.crt`, `ca.key`, `server.crt` and `server.key` in `dir`.
    ///
    /// # Panics
    ///
    /// If `openssl` is missing or fails (the message includes its output).
    pub fn generate(dir: &Path) -> TestTls {
        std::fs::create_dir_all(dir).expect("ha-testkit: cannot create the TLS dir");
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        let mut ca = vec!["req", "-x509"];
        ca.extend(ec);
        ca.extend([
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
            "-days",
            "2",
            "-subj",
            "/CN=media-ha test CA",
        ]);
        openssl(dir, &ca);
        let mut csr = vec!["req"];
        csr.extend(ec);
        csr.extend([
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=127.0.0.1",
        ]);
        openssl(dir, &csr);
        std::fs::write(dir.join("san.ext"), "subjectAltName=IP:127.0.0.1\n")
            .expect("ha-testkit: cannot write san.ext");
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                "server.csr",
                "-CA",
                "ca.crt",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                "server.crt",
                "-days",
                "2",
                "-extfile",
                "san.ext",
            ],
        );
        TestTls {
            dir: dir.to_owned(),
        }
    }

    /// The CA certificate file.
    pub fn ca_cert(&self) -> PathBuf {
        self.dir.join("ca.crt")
    }

    /// The CA certificate, PEM.
    pub fn ca_pem(&self) -> Vec<u8> {
        std::fs::read(self.ca_cert()).expect("ha-testkit: cannot read ca.crt")
    }

    /// The server certificate file.
    pub fn server_cert(&self) -> PathBuf {
        self.dir.join("server.crt")
    }

    /// The server key file.
    pub fn server_key(&self) -> PathBuf {
        self.dir.join("server.key")
    }
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("ha-testkit: `openssl` runs (apt install openssl)");
    assert!(
        out.status.success(),
        "ha-testkit: openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
