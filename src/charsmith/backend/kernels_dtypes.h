/* The kernels for one instruction set ISA (see kernels.c), in both dtypes: float (suffix
 * _f32, with an exp the compiler can vectorise) and double (_f64, libm's exp and tanh: the
 * float64 path is the one the finite-difference tests check). */
#define real float
#define DT _f32
#define CS_F32 1
#include "kernels_body.h"
#undef real
#undef DT
#undef CS_F32

#define real double
#define DT _f64
#define CS_F32 0
#include "kernels_body.h"
#undef real
#undef DT
#undef CS_F32
