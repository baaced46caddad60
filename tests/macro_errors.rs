//! Misusing `#[distob::remote]` is a compile error that says why.

#[test]
fn macro_misuse_is_a_readable_compile_error() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
}
