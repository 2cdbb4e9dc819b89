//! What a PE's datapath does per cycle. The FMAC array is `fp16_simd` lanes wide, but every lane
//! reads its operands from and writes its result to SRAM through the PE's ports, so the rate is
//! the smallest of the SIMD width and what the read and write ports carry per cycle.
//!
//! Weights stored in an integer format (int8, q3.5, ...) have no FMAC instruction of their own:
//! they are first expanded to f16 into a scratch row (read the codes, write f16), which the FMAC
//! then reads like f16 weights. That costs port bandwidth, so packed formats hold more weights
//! per PE but process each one more slowly.

use crate::arch::WsePe;
use crate::quant::Format;

/// Bits of an f16 activation, partial sum or cached key/value.
const F16_BITS: u64 = 16;

/// Rates of one PE's datapath [elements per cycle].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Datapath {
    read_bits: u64,
    write_bits: u64,
    simd: u64,
}

impl Datapath {
    /// The datapath of `pe`.
    pub fn new(pe: &WsePe) -> Datapath {
        Datapath {
            read_bits: pe.sram_read_ports * pe.sram_port_bits,
            write_bits: pe.sram_write_ports * pe.sram_port_bits,
            simd: pe.fp16_simd,
        }
    }

    /// Lanes when each one reads `read` bits and writes `write` bits per element.
    fn lanes(&self, read: u64, write: u64) -> u64 {
        let by_write = self.write_bits.checked_div(write).unwrap_or(self.simd);
        self.simd.min(self.read_bits / read).min(by_write).max(1)
    }

    /// Weights per cycle of `y += w * x` over a stored column of weights in `format`.
    pub fn axpy_lanes(&self, format: Format) -> u64 {
        let accumulate = if format == Format::F32 { 32 } else { F16_BITS };
        if format.is_integer() {
            // Codes in, f16 scratch out; then the scratch and y in, y out.
            let code = format.code_bits().ceil() as u64;
            self.lanes(code + 2 * F16_BITS, 2 * F16_BITS)
        } else {
            let w = if format == Format::F32 { 32 } else { F16_BITS };
            self.lanes(w + accumulate, accumulate)
        }
    }

    /// Multiply-accumulates per cycle of a dot product of two f16 vectors held in SRAM (the sum
    /// stays in a register).
    pub fn dot_lanes(&self) -> u64 {
        self.lanes(2 * F16_BITS, 0)
    }

    /// Element-wise f16 operations per cycle (one operand read, one result written).
    pub fn elementwise_lanes(&self) -> u64 {
        self.lanes(F16_BITS, F16_BITS)
    }

    /// Cycles of `ops` element-wise operations on each of `elements` values.
    pub fn elementwise(&self, elements: u64, ops: u64) -> u64 {
        (elements * ops).div_ceil(self.elementwise_lanes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wse3() -> WsePe {
        WsePe {
            sram_bytes: 49152,
            sram_read_ports: 2,
            sram_write_ports: 1,
            sram_port_bits: 64,
            fp16_simd: 8,
            code_reserve_bytes: 6144,
            buffer_bytes: 4096,
        }
    }

    #[test]
    fn ports_not_simd_width_bound_the_wse3_datapath() {
        let d = Datapath::new(&wse3());
        // f16 AXPY: reads w and y (32 bits), writes y (16 bits): 128 / 32 = 4, 64 / 16 = 4.
        assert_eq!(d.axpy_lanes(Format::F16), 4);
        // q3.5: reads a 4-bit code slot, the f16 scratch and y (36 bits): 3; writes scratch and
        // y (32 bits): 2.
        assert_eq!(d.axpy_lanes(Format::Q35), 2);
        assert_eq!(d.axpy_lanes(Format::F32), 2);
        assert_eq!(d.dot_lanes(), 4);
        assert_eq!(d.elementwise_lanes(), 4);
        assert_eq!(d.elementwise(10, 3), 8);
    }
}
