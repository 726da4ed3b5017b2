//! Fuzz target: sidecar bytes through rlrp::fuzz::sidecar (see fuzz/README.md).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| rlrp::fuzz::sidecar(data));
