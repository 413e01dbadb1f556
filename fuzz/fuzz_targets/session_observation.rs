//! Fuzz target `session_observation`: see `ketacare_fuzz::TARGETS` for what it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let check = ketacare_fuzz::target("session_observation").expect("a known target");
    check(data);
});
