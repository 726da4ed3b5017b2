//! Fuzz target: npy bytes through rlrp::fuzz::npy (see fuzz/README.md).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| rlrp::fuzz::npy(data));
