//! `unique` and `free_port`: the properties other crates' tests rely on.

use std::collections::HashSet;

use ha_testkit::{free_port, unique};

fn is_identifier(s: &str) -> bool {
    s.len() <= 63
        && !s.starts_with(|c: char| c.is_ascii_digit())
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

#[test]
fn unique_names_are_distinct_and_identifier_safe() {
    let mut seen = HashSet::new();
    for prefix in [
        "lease",
        "Job-Store",
        "",
        "9lives",
        "sessions:{x}",
        &"x".repeat(200),
    ] {
        for _ in 0..500 {
            let name = unique(prefix);
            assert!(is_identifier(&name), "{name:?} is not a safe identifier");
            assert!(seen.insert(name.clone()), "{name:?} handed out twice");
        }
    }
    assert!(unique("Job-Store").starts_with("job_store_"));
    assert!(unique("9lives").starts_with("t9lives_"));
}

#[test]
fn unique_names_carry_the_process_id() {
    let pid = std::process::id().to_string();
    assert!(unique("p").split('_').any(|part| part == pid));
}

#[test]
fn unique_is_distinct_across_threads() {
    let handles: Vec<_> = (0..8)
        .map(|_| std::thread::spawn(|| (0..200).map(|_| unique("t")).collect::<Vec<_>>()))
        .collect();
    let mut seen = HashSet::new();
    for h in handles {
        for name in h.join().unwrap() {
            assert!(seen.insert(name));
        }
    }
}

#[test]
fn free_ports_are_distinct_and_bindable() {
    let ports: Vec<u16> = (0..20).map(|_| free_port()).collect();
    let distinct: HashSet<_> = ports.iter().collect();
    assert_eq!(distinct.len(), ports.len());
    for p in ports {
        assert_ne!(p, 0);
        std::net::TcpListener::bind(("127.0.0.1", p)).expect("port should be free");
    }
}
