//! Replays every committed fuzz finding (`fuzz/regressions/<target>/<file>`) through its target's check
//! on stable, and a sample of each committed corpus (`fuzz/corpus/<target>/`) as a smoke test: what once
//! crashed must not crash again, whether or not a nightly toolchain is at hand.

use std::path::{Path, PathBuf};

fn fuzz_folder() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

/// Runs the files under `folder/<target>/` through that target's check (every file, or the first
/// `per_target` by name); returns the files run, and fails naming every file whose check panicked.
fn replay(folder: &Path, per_target: usize) -> usize {
    let mut replayed = 0;
    let mut failed = Vec::new();
    let Ok(targets) = std::fs::read_dir(folder) else { return 0 };
    let mut targets: Vec<PathBuf> = targets.map(|entry| entry.expect("a readable folder").path()).collect();
    targets.sort();
    for target_folder in targets.iter().filter(|path| path.is_dir()) {
        let name = target_folder.file_name().and_then(|name| name.to_str()).expect("a UTF-8 target name");
        let check =
            ketacare_fuzz::target(name).unwrap_or_else(|| panic!("{} names no fuzz target", target_folder.display()));
        let mut files: Vec<PathBuf> = std::fs::read_dir(target_folder)
            .expect("a readable folder")
            .map(|entry| entry.expect("an entry").path())
            .collect();
        files.sort();
        for file in files.iter().filter(|path| path.is_file()).take(per_target) {
            let data = std::fs::read(file).expect("a readable input");
            let outcome = std::panic::catch_unwind(|| check(&data));
            if outcome.is_err() {
                failed.push(file.display().to_string());
            }
            replayed += 1;
        }
    }
    assert!(failed.is_empty(), "these inputs fail their check:\n{}", failed.join("\n"));
    replayed
}

#[test]
fn every_committed_crash_input_passes_its_check() {
    let replayed = replay(&fuzz_folder().join("regressions"), usize::MAX);
    println!("replayed {replayed} regression inputs");
}

/// A sample of each corpus (its files are named by their hash, so the first 100 by name are a random
/// draw; all of them take minutes unoptimised): a smoke test that the checks hold on stable too.
#[test]
fn corpus_entries_pass_their_checks() {
    let replayed = replay(&fuzz_folder().join("corpus"), 100);
    println!("replayed {replayed} corpus entries");
}

#[test]
fn every_target_has_a_cargo_fuzz_binary() {
    let manifest = std::fs::read_to_string(fuzz_folder().join("Cargo.toml")).expect("fuzz/Cargo.toml");
    for (name, _) in ketacare_fuzz::TARGETS {
        assert!(manifest.contains(&format!("name = \"{name}\"")), "fuzz/Cargo.toml has no [[bin]] {name}");
        let source = fuzz_folder().join("fuzz_targets").join(format!("{name}.rs"));
        assert!(source.is_file(), "{} is missing", source.display());
    }
}

/// `KETACARE_FUZZ_REPLAY=FOLDER cargo test -p ketacare-fuzz` replays `FOLDER/<target>/*` too: a crash
/// input checked on stable before it is committed.
#[test]
fn the_folder_named_by_ketacare_fuzz_replay_passes_its_checks() {
    if let Some(folder) = std::env::var_os("KETACARE_FUZZ_REPLAY") {
        let replayed = replay(Path::new(&folder), usize::MAX);
        println!("replayed {replayed} inputs from {}", Path::new(&folder).display());
    }
}
