;; SIMD loops that tfjs's wasm backend has no kernel for, run on that backend's own
;; memory (imported): batch-norm moments and their gradient sums in one pass each,
;; per-channel affine maps, Adam's update and deformSample, forward and backward. (The
;; convolution kernels' loops, loaded with deformconv/wasm only, are conv_kernels.wat.)
;;
;; Every tensor is float32, addressed by its byte offset in the memory; an NHWC tensor
;; is a [rows, c] matrix (c channels, the innermost axis). Channel loops take four
;; channels at a time and finish the c % 4 left one by one. Column sums add up blocks
;; of at most 64 rows in a scratch vector first, then add each block to the total:
;; float32 error then grows with rows / 64 + 64, not with rows.
;;
;; The binary the package loads (kernels_binary.ts) is made from this file by
;; `npm run build:kernels`; tests/generated_files.test.ts checks the two agree.
(module
  (import "env" "memory" (memory 0))

  (func $zero (param $p i32) (param $n i32)
    (memory.fill (local.get $p) (i32.const 0) (i32.shl (local.get $n) (i32.const 2))))

  ;; dst[k] += src[k], k < c
  (func $add_into (param $dst i32) (param $src i32) (param $c i32)
    (local $end i32) (local $end4 i32)
    (local.set $end (i32.add (local.get $dst) (i32.shl (local.get $c) (i32.const 2))))
    (local.set $end4 (i32.add (local.get $dst) (i32.shl (i32.and (local.get $c) (i32.const -4)) (i32.const 2))))
    (block $simd_done (loop $simd
      (br_if $simd_done (i32.ge_u (local.get $dst) (local.get $end4)))
      (v128.store (local.get $dst) (f32x4.add (v128.load (local.get $dst)) (v128.load (local.get $src))))
      (local.set $dst (i32.add (local.get $dst) (i32.const 16)))
      (local.set $src (i32.add (local.get $src) (i32.const 16)))
      (br $simd)))
    (block $done (loop $tail
      (br_if $done (i32.ge_u (local.get $dst) (local.get $end)))
      (f32.store (local.get $dst) (f32.add (f32.load (local.get $dst)) (f32.load (local.get $src))))
      (local.set $dst (i32.add (local.get $dst) (i32.const 4)))
      (local.set $src (i32.add (local.get $src) (i32.const 4)))
      (br $tail))))

  ;; sums[k] = sum over rows of (x[r, k] - center[k])^2 if $square, else of x[r, k] (center unused).
  (func (export "columnSums")
    (param $x i32) (param $rows i32) (param $c i32) (param $center i32) (param $square i32)
    (param $sums i32) (param $block i32)
    (local $r i32) (local $blockEnd i32) (local $k i32) (local $c4 i32) (local $row i32)
    (local $v v128) (local $s f32)
    (local.set $c4 (i32.and (local.get $c) (i32.const -4)))
    (call $zero (local.get $sums) (local.get $c))
    (block $rows_done (loop $blocks
      (br_if $rows_done (i32.ge_u (local.get $r) (local.get $rows)))
      (local.set $blockEnd (select (i32.add (local.get $r) (i32.const 64)) (local.get $rows)
        (i32.lt_u (i32.add (local.get $r) (i32.const 64)) (local.get $rows))))
      (call $zero (local.get $block) (local.get $c))
      (block $block_done (loop $each_row
        (br_if $block_done (i32.ge_u (local.get $r) (local.get $blockEnd)))
        (local.set $row (i32.add (local.get $x) (i32.shl (i32.mul (local.get $r) (local.get $c)) (i32.const 2))))
        (local.set $k (i32.const 0))
        (block $simd_done (loop $simd
          (br_if $simd_done (i32.ge_u (local.get $k) (local.get $c4)))
          (local.set $v (v128.load (i32.add (local.get $row) (i32.shl (local.get $k) (i32.const 2)))))
          (if (local.get $square) (then
            (local.set $v (f32x4.sub (local.get $v) (v128.load (i32.add (local.get $center) (i32.shl (local.get $k) (i32.const 2))))))
            (local.set $v (f32x4.mul (local.get $v) (local.get $v)))))
          (v128.store (i32.add (local.get $block) (i32.shl (local.get $k) (i32.const 2)))
            (f32x4.add (v128.load (i32.add (local.get $block) (i32.shl (local.get $k) (i32.const 2)))) (local.get $v)))
          (local.set $k (i32.add (local.get $k) (i32.const 4)))
          (br $simd)))
        (block $tail_done (loop $tail
          (br_if $tail_done (i32.ge_u (local.get $k) (local.get $c)))
          (local.set $s (f32.load (i32.add (local.get $row) (i32.shl (local.get $k) (i32.const 2)))))
          (if (local.get $square) (then
            (local.set $s (f32.sub (local.get $s) (f32.load (i32.add (local.get $center) (i32.shl (local.get $k) (i32.const 2))))))
            (local.set $s (f32.mul (local.get $s) (local.get $s)))))
          (f32.store (i32.add (local.get $block) (i32.shl (local.get $k) (i32.const 2)))
            (f32.add (f32.load (i32.add (local.get $block) (i32.shl (local.get $k) (i32.const 2)))) (local.get $s)))
          (local.set $k (i32.add (local.get $k) (i32.const 1)))
          (br $tail)))
        (local.set $r (i32.add (local.get $r) (i32.const 1)))
        (br $each_row)))
      (call $add_into (local.get $sums) (local.get $block) (local.get $c))
      (br $blocks))))

  ;; One pass of the batch-norm gradient: sumDy[k] = sum of dy[r, k] and
  ;; sumDyCentered[k] = sum of dy[r, k] * (x[r, k] - mean[k]).
  (func (export "gradientSums")
    (param $dy i32) (param $x i32) (param $rows i32) (param $c i32) (param $mean i32)
    (param $sumDy i32) (param $sumDyCentered i32) (param $blockDy i32) (param $blockDyCentered i32)
    (local $r i32) (local $blockEnd i32) (local $k i32) (local $c4 i32) (local $offset i32) (local $at i32)
    (local $d v128) (local $ds f32)
    (local.set $c4 (i32.and (local.get $c) (i32.const -4)))
    (call $zero (local.get $sumDy) (local.get $c))
    (call $zero (local.get $sumDyCentered) (local.get $c))
    (block $rows_done (loop $blocks
      (br_if $rows_done (i32.ge_u (local.get $r) (local.get $rows)))
      (local.set $blockEnd (select (i32.add (local.get $r) (i32.const 64)) (local.get $rows)
        (i32.lt_u (i32.add (local.get $r) (i32.const 64)) (local.get $rows))))
      (call $zero (local.get $blockDy) (local.get $c))
      (call $zero (local.get $blockDyCentered) (local.get $c))
      (block $block_done (loop $each_row
        (br_if $block_done (i32.ge_u (local.get $r) (local.get $blockEnd)))
        (local.set $offset (i32.shl (i32.mul (local.get $r) (local.get $c)) (i32.const 2)))
        (local.set $k (i32.const 0))
        (block $simd_done (loop $simd
          (br_if $simd_done (i32.ge_u (local.get $k) (local.get $c4)))
          (local.set $at (i32.shl (local.get $k) (i32.const 2)))
          (local.set $d (v128.load (i32.add (local.get $dy) (i32.add (local.get $offset) (local.get $at)))))
          (v128.store (i32.add (local.get $blockDy) (local.get $at))
            (f32x4.add (v128.load (i32.add (local.get $blockDy) (local.get $at))) (local.get $d)))
          (v128.store (i32.add (local.get $blockDyCentered) (local.get $at))
            (f32x4.add (v128.load (i32.add (local.get $blockDyCentered) (local.get $at)))
              (f32x4.mul (local.get $d)
                (f32x4.sub (v128.load (i32.add (local.get $x) (i32.add (local.get $offset) (local.get $at))))
                  (v128.load (i32.add (local.get $mean) (local.get $at)))))))
          (local.set $k (i32.add (local.get $k) (i32.const 4)))
          (br $simd)))
        (block $tail_done (loop $tail
          (br_if $tail_done (i32.ge_u (local.get $k) (local.get $c)))
          (local.set $at (i32.shl (local.get $k) (i32.const 2)))
          (local.set $ds (f32.load (i32.add (local.get $dy) (i32.add (local.get $offset) (local.get $at)))))
          (f32.store (i32.add (local.get $blockDy) (local.get $at))
            (f32.add (f32.load (i32.add (local.get $blockDy) (local.get $at))) (local.get $ds)))
          (f32.store (i32.add (local.get $blockDyCentered) (local.get $at))
            (f32.add (f32.load (i32.add (local.get $blockDyCentered) (local.get $at)))
              (f32.mul (local.get $ds)
                (f32.sub (f32.load (i32.add (local.get $x) (i32.add (local.get $offset) (local.get $at))))
                  (f32.load (i32.add (local.get $mean) (local.get $at)))))))
          (local.set $k (i32.add (local.get $k) (i32.const 1)))
          (br $tail)))
        (local.set $r (i32.add (local.get $r) (i32.const 1)))
        (br $each_row)))
      (call $add_into (local.get $sumDy) (local.get $blockDy) (local.get $c))
      (call $add_into (local.get $sumDyCentered) (local.get $blockDyCentered) (local.get $c))
      (br $blocks))))

  ;; out[r, k] = u[r, k] * a[k] + v[r, k] * b[k] + shift[k]; with $v = 0, out = u * a + shift (b unused).
  (func (export "channelAffine")
    (param $u i32) (param $a i32) (param $v i32) (param $b i32) (param $shift i32)
    (param $rows i32) (param $c i32) (param $out i32)
    (local $r i32) (local $k i32) (local $c4 i32) (local $offset i32) (local $at i32) (local $y v128) (local $ys f32)
    (local.set $c4 (i32.and (local.get $c) (i32.const -4)))
    (block $rows_done (loop $each_row
      (br_if $rows_done (i32.ge_u (local.get $r) (local.get $rows)))
      (local.set $offset (i32.shl (i32.mul (local.get $r) (local.get $c)) (i32.const 2)))
      (local.set $k (i32.const 0))
      (block $simd_done (loop $simd
        (br_if $simd_done (i32.ge_u (local.get $k) (local.get $c4)))
        (local.set $at (i32.shl (local.get $k) (i32.const 2)))
        (local.set $y (f32x4.add
          (f32x4.mul (v128.load (i32.add (local.get $u) (i32.add (local.get $offset) (local.get $at))))
            (v128.load (i32.add (local.get $a) (local.get $at))))
          (v128.load (i32.add (local.get $shift) (local.get $at)))))
        (if (local.get $v) (then
          (local.set $y (f32x4.add (local.get $y)
            (f32x4.mul (v128.load (i32.add (local.get $v) (i32.add (local.get $offset) (local.get $at))))
              (v128.load (i32.add (local.get $b) (local.get $at))))))))
        (v128.store (i32.add (local.get $out) (i32.add (local.get $offset) (local.get $at))) (local.get $y))
        (local.set $k (i32.add (local.get $k) (i32.const 4)))
        (br $simd)))
      (block $tail_done (loop $tail
        (br_if $tail_done (i32.ge_u (local.get $k) (local.get $c)))
        (local.set $at (i32.shl (local.get $k) (i32.const 2)))
        (local.set $ys (f32.add
          (f32.mul (f32.load (i32.add (local.get $u) (i32.add (local.get $offset) (local.get $at))))
            (f32.load (i32.add (local.get $a) (local.get $at))))
          (f32.load (i32.add (local.get $shift) (local.get $at)))))
        (if (local.get $v) (then
          (local.set $ys (f32.add (local.get $ys)
            (f32.mul (f32.load (i32.add (local.get $v) (i32.add (local.get $offset) (local.get $at))))
              (f32.load (i32.add (local.get $b) (local.get $at))))))))
        (f32.store (i32.add (local.get $out) (i32.add (local.get $offset) (local.get $at))) (local.get $ys))
        (local.set $k (i32.add (local.get $k) (i32.const 1)))
        (br $tail)))
      (local.set $r (i32.add (local.get $r) (i32.const 1)))
      (br $each_row))))

  ;; One Adam step on n values, in the order of tfjs's AdamOptimizer's ops (so with the same
  ;; float32 roundings): m' = m * beta1 + g * oneMinusBeta1, v' = v * beta2 + g^2 * oneMinusBeta2,
  ;; value' = (m' / correction1) / (sqrt(v' / correction2) + epsilon) * negLearningRate + value.
  (func (export "adamUpdate")
    (param $value i32) (param $m i32) (param $v i32) (param $g i32) (param $n i32)
    (param $beta1 f32) (param $oneMinusBeta1 f32) (param $beta2 f32) (param $oneMinusBeta2 f32)
    (param $correction1 f32) (param $correction2 f32) (param $epsilon f32) (param $negLearningRate f32)
    (param $newValue i32) (param $newM i32) (param $newV i32)
    (local $at i32) (local $end i32) (local $end4 i32)
    (local $gv v128) (local $mv v128) (local $vv v128)
    (local $gs f32) (local $ms f32) (local $vs f32)
    (local.set $end (i32.shl (local.get $n) (i32.const 2)))
    (local.set $end4 (i32.shl (i32.and (local.get $n) (i32.const -4)) (i32.const 2)))
    (block $simd_done (loop $simd
      (br_if $simd_done (i32.ge_u (local.get $at) (local.get $end4)))
      (local.set $gv (v128.load (i32.add (local.get $g) (local.get $at))))
      (local.set $mv (f32x4.add
        (f32x4.mul (v128.load (i32.add (local.get $m) (local.get $at))) (f32x4.splat (local.get $beta1)))
        (f32x4.mul (local.get $gv) (f32x4.splat (local.get $oneMinusBeta1)))))
      (local.set $vv (f32x4.add
        (f32x4.mul (v128.load (i32.add (local.get $v) (local.get $at))) (f32x4.splat (local.get $beta2)))
        (f32x4.mul (f32x4.mul (local.get $gv) (local.get $gv)) (f32x4.splat (local.get $oneMinusBeta2)))))
      (v128.store (i32.add (local.get $newM) (local.get $at)) (local.get $mv))
      (v128.store (i32.add (local.get $newV) (local.get $at)) (local.get $vv))
      (v128.store (i32.add (local.get $newValue) (local.get $at))
        (f32x4.add
          (f32x4.mul
            (f32x4.div
              (f32x4.div (local.get $mv) (f32x4.splat (local.get $correction1)))
              (f32x4.add (f32x4.sqrt (f32x4.div (local.get $vv) (f32x4.splat (local.get $correction2)))) (f32x4.splat (local.get $epsilon))))
            (f32x4.splat (local.get $negLearningRate)))
          (v128.load (i32.add (local.get $value) (local.get $at)))))
      (local.set $at (i32.add (local.get $at) (i32.const 16)))
      (br $simd)))
    (block $done (loop $tail
      (br_if $done (i32.ge_u (local.get $at) (local.get $end)))
      (local.set $gs (f32.load (i32.add (local.get $g) (local.get $at))))
      (local.set $ms (f32.add
        (f32.mul (f32.load (i32.add (local.get $m) (local.get $at))) (local.get $beta1))
        (f32.mul (local.get $gs) (local.get $oneMinusBeta1))))
      (local.set $vs (f32.add
        (f32.mul (f32.load (i32.add (local.get $v) (local.get $at))) (local.get $beta2))
        (f32.mul (f32.mul (local.get $gs) (local.get $gs)) (local.get $oneMinusBeta2))))
      (f32.store (i32.add (local.get $newM) (local.get $at)) (local.get $ms))
      (f32.store (i32.add (local.get $newV) (local.get $at)) (local.get $vs))
      (f32.store (i32.add (local.get $newValue) (local.get $at))
        (f32.add
          (f32.mul
            (f32.div
              (f32.div (local.get $ms) (local.get $correction1))
              (f32.add (f32.sqrt (f32.div (local.get $vs) (local.get $correction2))) (local.get $epsilon)))
            (local.get $negLearningRate))
          (f32.load (i32.add (local.get $value) (local.get $at)))))
      (local.set $at (i32.add (local.get $at) (i32.const 4)))
      (br $tail))))




  ;; ---- deformSample: each channel bilinearly resampled at its own offset ----
  ;; x [batch, h, w, c] (c % 4 == 0), offsets [batch, h, w, 2c] as (dy, dx) per channel. Four
  ;; channels at a time: their coordinates, corners and weights in vectors, the corners read
  ;; (and the gradient scattered) lane by lane. The same sampling as src/kernels/typed/bilinear.ts
  ;; ('clip'): coordinates clamped to [0, size - 1] (NaN to 0), corners floor and floor + 1
  ;; (the last pixel repeated), no gradient where clamped; float32 arithmetic throughout.

  ;; One axis of four sample points at $coord on an axis of $last + 1 pixels: corner indices
  ;; lo and hi, their weights 1 - frac and frac, and a mask of the lanes inside [0, last].
  (func $axis (param $coord v128) (param $last v128) (param $lastIndex v128) (result v128 v128 v128 v128 v128)
    (local $inside v128) (local $clamped v128) (local $lo v128) (local $frac v128) (local $loIndex v128)
    (local.set $inside (v128.and (f32x4.ge (local.get $coord) (v128.const f32x4 0 0 0 0)) (f32x4.le (local.get $coord) (local.get $last))))
    (local.set $clamped (v128.bitselect (local.get $coord)
      (v128.and (local.get $last) (f32x4.gt (local.get $coord) (local.get $last)))
      (local.get $inside)))
    (local.set $lo (f32x4.floor (local.get $clamped)))
    (local.set $frac (f32x4.sub (local.get $clamped) (local.get $lo)))
    (local.set $loIndex (i32x4.trunc_sat_f32x4_s (local.get $lo)))
    (local.get $loIndex)
    (i32x4.min_s (i32x4.add (local.get $loIndex) (v128.const i32x4 1 1 1 1)) (local.get $lastIndex))
    (f32x4.sub (v128.const f32x4 1 1 1 1) (local.get $frac))
    (local.get $frac)
    (local.get $inside))

  ;; The floats at $base + 4 (offset + lane) for four vectors of element offsets (a sample
  ;; point's corners, four channels each); one call for all sixteen, as V8 does not inline.
  (func $gatherCorners (param $base i32) (param $o00 v128) (param $o01 v128) (param $o10 v128) (param $o11 v128)
    (result v128 v128 v128 v128)
    (local $a00 v128) (local $a01 v128) (local $a10 v128) (local $a11 v128) (local $lanes v128)
    (local.set $lanes (i32x4.add (i32x4.splat (local.get $base)) (v128.const i32x4 0 4 8 12)))
    (local.set $a00 (i32x4.add (local.get $lanes) (i32x4.shl (local.get $o00) (i32.const 2))))
    (local.set $a01 (i32x4.add (local.get $lanes) (i32x4.shl (local.get $o01) (i32.const 2))))
    (local.set $a10 (i32x4.add (local.get $lanes) (i32x4.shl (local.get $o10) (i32.const 2))))
    (local.set $a11 (i32x4.add (local.get $lanes) (i32x4.shl (local.get $o11) (i32.const 2))))
    (f32x4.replace_lane 3 (f32x4.replace_lane 2 (f32x4.replace_lane 1
      (f32x4.splat (f32.load (i32x4.extract_lane 0 (local.get $a00))))
      (f32.load (i32x4.extract_lane 1 (local.get $a00)))) (f32.load (i32x4.extract_lane 2 (local.get $a00)))) (f32.load (i32x4.extract_lane 3 (local.get $a00))))
    (f32x4.replace_lane 3 (f32x4.replace_lane 2 (f32x4.replace_lane 1
      (f32x4.splat (f32.load (i32x4.extract_lane 0 (local.get $a01))))
      (f32.load (i32x4.extract_lane 1 (local.get $a01)))) (f32.load (i32x4.extract_lane 2 (local.get $a01)))) (f32.load (i32x4.extract_lane 3 (local.get $a01))))
    (f32x4.replace_lane 3 (f32x4.replace_lane 2 (f32x4.replace_lane 1
      (f32x4.splat (f32.load (i32x4.extract_lane 0 (local.get $a10))))
      (f32.load (i32x4.extract_lane 1 (local.get $a10)))) (f32.load (i32x4.extract_lane 2 (local.get $a10)))) (f32.load (i32x4.extract_lane 3 (local.get $a10))))
    (f32x4.replace_lane 3 (f32x4.replace_lane 2 (f32x4.replace_lane 1
      (f32x4.splat (f32.load (i32x4.extract_lane 0 (local.get $a11))))
      (f32.load (i32x4.extract_lane 1 (local.get $a11)))) (f32.load (i32x4.extract_lane 2 (local.get $a11)))) (f32.load (i32x4.extract_lane 3 (local.get $a11)))))

  ;; Adds the lanes of $v to the float at $base + 4 (offset + lane), lane by lane.
  (func $scatterAdd (param $base i32) (param $offset v128) (param $v v128)
    (local $at v128) (local $a i32)
    (local.set $at (i32x4.add (i32x4.add (i32x4.splat (local.get $base)) (v128.const i32x4 0 4 8 12))
      (i32x4.shl (local.get $offset) (i32.const 2))))
    (local.set $a (i32x4.extract_lane 0 (local.get $at)))
    (f32.store (local.get $a) (f32.add (f32.load (local.get $a)) (f32x4.extract_lane 0 (local.get $v))))
    (local.set $a (i32x4.extract_lane 1 (local.get $at)))
    (f32.store (local.get $a) (f32.add (f32.load (local.get $a)) (f32x4.extract_lane 1 (local.get $v))))
    (local.set $a (i32x4.extract_lane 2 (local.get $at)))
    (f32.store (local.get $a) (f32.add (f32.load (local.get $a)) (f32x4.extract_lane 2 (local.get $v))))
    (local.set $a (i32x4.extract_lane 3 (local.get $at)))
    (f32.store (local.get $a) (f32.add (f32.load (local.get $a)) (f32x4.extract_lane 3 (local.get $v)))))

  ;; Forward when $dy is 0: out[b, i, j, k] = x sampled at (i + dy, j + dx) of channel k.
  ;; Backward otherwise, for the output gradient $dy: adds to $dx (zeroed by the caller) and
  ;; writes $dOffsets, both gradients in one pass over the sample points ($out unused).
  (func (export "deformSample")
    (param $x i32) (param $offsets i32) (param $batch i32) (param $h i32) (param $w i32) (param $c i32)
    (param $out i32) (param $dy i32) (param $dx i32) (param $dOffsets i32)
    (local $b i32) (local $i i32) (local $j i32) (local $k i32) (local $pixel i32) (local $image i32) (local $at i32) (local $pair i32)
    (local $lastRow v128) (local $lastCol v128) (local $lastRowIndex v128) (local $lastColIndex v128)
    (local $rowStride v128) (local $colStride v128) (local $fi v128) (local $fj v128) (local $first v128) (local $second v128)
    (local $loR v128) (local $hiR v128) (local $wLoR v128) (local $wHiR v128) (local $insideR v128)
    (local $loC v128) (local $hiC v128) (local $wLoC v128) (local $wHiC v128) (local $insideC v128)
    (local $v00 v128) (local $v01 v128) (local $v10 v128) (local $v11 v128) (local $top v128) (local $bottom v128)
    (local $g v128) (local $gradRow v128) (local $gradCol v128) (local $gLo v128) (local $gHi v128)
    (local.set $lastRow (f32x4.splat (f32.convert_i32_s (i32.sub (local.get $h) (i32.const 1)))))
    (local.set $lastCol (f32x4.splat (f32.convert_i32_s (i32.sub (local.get $w) (i32.const 1)))))
    (local.set $lastRowIndex (i32x4.splat (i32.sub (local.get $h) (i32.const 1))))
    (local.set $lastColIndex (i32x4.splat (i32.sub (local.get $w) (i32.const 1))))
    (local.set $rowStride (i32x4.splat (i32.mul (local.get $w) (local.get $c))))
    (local.set $colStride (i32x4.splat (local.get $c)))
    (block $images_done (loop $each_image
      (br_if $images_done (i32.ge_u (local.get $b) (local.get $batch)))
      (local.set $image (i32.mul (local.get $b) (i32.mul (i32.mul (local.get $h) (local.get $w)) (local.get $c))))
      (local.set $i (i32.const 0))
      (block $rows_done (loop $each_row
        (br_if $rows_done (i32.ge_u (local.get $i) (local.get $h)))
        (local.set $fi (f32x4.splat (f32.convert_i32_s (local.get $i))))
        (local.set $j (i32.const 0))
        (block $cols_done (loop $each_col
          (br_if $cols_done (i32.ge_u (local.get $j) (local.get $w)))
          (local.set $fj (f32x4.splat (f32.convert_i32_s (local.get $j))))
          (local.set $k (i32.const 0))
          (block $channels_done (loop $each_channel
            (br_if $channels_done (i32.ge_u (local.get $k) (local.get $c)))
            ;; This pixel's element k, and its (dy, dx) pairs: four channels' offsets in two vectors.
            (local.set $at (i32.shl (i32.add (local.get $pixel) (local.get $k)) (i32.const 2)))
            (local.set $pair (i32.add (local.get $offsets) (i32.shl (local.get $at) (i32.const 1))))
            (local.set $first (v128.load (local.get $pair)))
            (local.set $second (v128.load offset=16 (local.get $pair)))
            (call $axis (f32x4.add (local.get $fi) (i8x16.shuffle 0 1 2 3 8 9 10 11 16 17 18 19 24 25 26 27 (local.get $first) (local.get $second)))
              (local.get $lastRow) (local.get $lastRowIndex))
            (local.set $insideR) (local.set $wHiR) (local.set $wLoR) (local.set $hiR) (local.set $loR)
            (call $axis (f32x4.add (local.get $fj) (i8x16.shuffle 4 5 6 7 12 13 14 15 20 21 22 23 28 29 30 31 (local.get $first) (local.get $second)))
              (local.get $lastCol) (local.get $lastColIndex))
            (local.set $insideC) (local.set $wHiC) (local.set $wLoC) (local.set $hiC) (local.set $loC)
            ;; Corner offsets in elements, from image b's channel k.
            (local.set $loR (i32x4.mul (local.get $loR) (local.get $rowStride)))
            (local.set $hiR (i32x4.mul (local.get $hiR) (local.get $rowStride)))
            (local.set $loC (i32x4.mul (local.get $loC) (local.get $colStride)))
            (local.set $hiC (i32x4.mul (local.get $hiC) (local.get $colStride)))
            (local.set $first (i32x4.splat (i32.add (local.get $image) (local.get $k))))
            (local.set $loR (i32x4.add (local.get $loR) (local.get $first)))
            (local.set $hiR (i32x4.add (local.get $hiR) (local.get $first)))
            (call $gatherCorners (local.get $x)
              (i32x4.add (local.get $loR) (local.get $loC)) (i32x4.add (local.get $loR) (local.get $hiC))
              (i32x4.add (local.get $hiR) (local.get $loC)) (i32x4.add (local.get $hiR) (local.get $hiC)))
            (local.set $v11) (local.set $v10) (local.set $v01) (local.set $v00)
            (local.set $top (f32x4.add (f32x4.mul (local.get $wLoC) (local.get $v00)) (f32x4.mul (local.get $wHiC) (local.get $v01))))
            (local.set $bottom (f32x4.add (f32x4.mul (local.get $wLoC) (local.get $v10)) (f32x4.mul (local.get $wHiC) (local.get $v11))))
            (if (i32.eqz (local.get $dy))
              (then
                (v128.store (i32.add (local.get $out) (local.get $at))
                  (f32x4.add (f32x4.mul (local.get $wLoR) (local.get $top)) (f32x4.mul (local.get $wHiR) (local.get $bottom)))))
              (else
                (local.set $g (v128.load (i32.add (local.get $dy) (local.get $at))))
                ;; d(sample)/d(row) = bottom - top, d/d(column) = the rows' blend of (v01 - v00), (v11 - v10); zero where clamped.
                (local.set $gradRow (f32x4.mul (local.get $g)
                  (v128.and (f32x4.sub (local.get $bottom) (local.get $top)) (local.get $insideR))))
                (local.set $gradCol (f32x4.mul (local.get $g)
                  (v128.and (f32x4.add (f32x4.mul (local.get $wLoR) (f32x4.sub (local.get $v01) (local.get $v00)))
                                       (f32x4.mul (local.get $wHiR) (f32x4.sub (local.get $v11) (local.get $v10))))
                            (local.get $insideC))))
                (local.set $pair (i32.add (local.get $dOffsets) (i32.shl (local.get $at) (i32.const 1))))
                (v128.store (local.get $pair) (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $gradRow) (local.get $gradCol)))
                (v128.store offset=16 (local.get $pair) (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $gradRow) (local.get $gradCol)))
                (local.set $gLo (f32x4.mul (local.get $g) (local.get $wLoR)))
                (local.set $gHi (f32x4.mul (local.get $g) (local.get $wHiR)))
                (call $scatterAdd (local.get $dx) (i32x4.add (local.get $loR) (local.get $loC)) (f32x4.mul (local.get $gLo) (local.get $wLoC)))
                (call $scatterAdd (local.get $dx) (i32x4.add (local.get $loR) (local.get $hiC)) (f32x4.mul (local.get $gLo) (local.get $wHiC)))
                (call $scatterAdd (local.get $dx) (i32x4.add (local.get $hiR) (local.get $loC)) (f32x4.mul (local.get $gHi) (local.get $wLoC)))
                (call $scatterAdd (local.get $dx) (i32x4.add (local.get $hiR) (local.get $hiC)) (f32x4.mul (local.get $gHi) (local.get $wHiC)))))
            (local.set $k (i32.add (local.get $k) (i32.const 4)))
            (br $each_channel)))
          (local.set $pixel (i32.add (local.get $pixel) (local.get $c)))
          (local.set $j (i32.add (local.get $j) (i32.const 1)))
          (br $each_col)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $each_row)))
      (local.set $b (i32.add (local.get $b) (i32.const 1)))
      (br $each_image))))

)
