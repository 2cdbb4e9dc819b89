//! Which instruction set the kernels run on, chosen once per call from what the CPU reports.
//! Every path computes exactly the portable kernels' arithmetic (same lanes, same order, a
//! multiply rounded before its add; exact integer sums on the int8-activation path), so the
//! choice changes speed, never a bit of the results.

/// A kernel implementation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Isa {
    /// Plain Rust for any CPU: the definition of the results.
    Portable,
    /// x86-64 AVX2 (256-bit vectors, `vpshufb` / `vpsrlvd` decoding) with F16C (half to
    /// single conversion). Only [`Isa::detect`] returns it, and only on a CPU that has both.
    #[cfg(target_arch = "x86_64")]
    Avx2,
    /// [`Isa::Avx2`] plus AVX-512 F/BW/VBMI (512-bit integer vectors, `vpermb` and
    /// `vpmultishiftqb` decoding). Kernels without a 512-bit version run their AVX2 one.
    #[cfg(target_arch = "x86_64")]
    Avx512,
}

impl Isa {
    /// The fastest implementation this CPU runs.
    pub(crate) fn detect() -> Self {
        Self::available().pop().unwrap_or(Isa::Portable)
    }

    /// Every implementation this CPU runs, slowest (portable) first.
    pub(crate) fn available() -> Vec<Self> {
        let mut isas = vec![Isa::Portable];
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::is_x86_feature_detected as has;
            if has!("avx2") && has!("f16c") {
                isas.push(Isa::Avx2);
                if has!("avx512f") && has!("avx512bw") && has!("avx512vbmi") {
                    isas.push(Isa::Avx512);
                }
            }
        }
        isas
    }

    /// True where the AVX2 kernels run (AVX2 and anything wider).
    pub(crate) fn has_avx2(self) -> bool {
        self != Isa::Portable
    }
}

/// True if this CPU runs AVX2: for loops that pick their path per row, where [`Isa::detect`]
/// would cost more than the row (the standard library caches the answer).
#[inline]
pub(crate) fn cpu_has_avx2() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}
