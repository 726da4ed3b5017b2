//! Fuzz target: onnx bytes through rlrp::fuzz::onnx (see fuzz/README.md).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| rlrp::fuzz::onnx(data));
