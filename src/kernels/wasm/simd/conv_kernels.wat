;; SIMD loops of the convolution kernels that replace tfjs's (loaded with deformconv/wasm
;; only, by conv_kernels.ts), run on the wasm backend's own memory (imported): the transposed
;; im2col of the filter gradient, the sub-pixel scatter of the strided input gradient, and
;; Winograd's transforms for stride-1 3x3 convolutions (the per-tile transforms generated into
;; winograd_tiles.wat). Every tensor is float32, addressed by its byte offset in the memory.
;;
;; The binary the package loads (conv_kernels_binary.ts) is made from this file and
;; winograd_tiles.wat by `npm run build:kernels`; tests/generated_files.test.ts checks they agree.
(module
  (import "env" "memory" (memory 0))

  ;; One kernel tap's rows of the transposed im2col: for each channel ci and image b in
  ;; [first, first + count), writes the outH x outW values x[ci, b, y*strideH + rowOffset,
  ;; x*strideW + colOffset] (xT is [channels, batch, inH, inW]), zero outside the rows
  ;; [yLo, yHi) and columns [xLo, xHi) that land inside the image, one block after another.
  (func (export "im2colTap")
    (param $xT i32) (param $dst i32) (param $channels i32) (param $batch i32) (param $first i32) (param $count i32)
    (param $inH i32) (param $inW i32) (param $outH i32) (param $outW i32) (param $strideH i32) (param $strideW i32)
    (param $rowOffset i32) (param $colOffset i32) (param $yLo i32) (param $yHi i32) (param $xLo i32) (param $xHi i32)
    (local $ci i32) (local $b i32) (local $y i32) (local $plane i32) (local $src i32) (local $end i32)
    (local $run i32) (local $tail i32) (local $step i32)
    (local.set $run (i32.sub (local.get $xHi) (local.get $xLo)))
    (local.set $tail (i32.sub (local.get $outW) (local.get $xHi)))
    (local.set $step (i32.shl (local.get $strideW) (i32.const 2)))
    (block $channels_done (loop $each_channel
      (br_if $channels_done (i32.ge_u (local.get $ci) (local.get $channels)))
      (local.set $b (local.get $first))
      (block $images_done (loop $each_image
        (br_if $images_done (i32.ge_u (local.get $b) (i32.add (local.get $first) (local.get $count))))
        (local.set $plane (i32.add (local.get $xT) (i32.shl
          (i32.mul (i32.add (i32.mul (local.get $ci) (local.get $batch)) (local.get $b)) (i32.mul (local.get $inH) (local.get $inW)))
          (i32.const 2))))
        (memory.fill (local.get $dst) (i32.const 0) (i32.shl (i32.mul (local.get $yLo) (local.get $outW)) (i32.const 2)))
        (local.set $dst (i32.add (local.get $dst) (i32.shl (i32.mul (local.get $yLo) (local.get $outW)) (i32.const 2))))
        (local.set $y (local.get $yLo))
        (block $rows_done (loop $each_row
          (br_if $rows_done (i32.ge_u (local.get $y) (local.get $yHi)))
          (memory.fill (local.get $dst) (i32.const 0) (i32.shl (local.get $xLo) (i32.const 2)))
          (local.set $dst (i32.add (local.get $dst) (i32.shl (local.get $xLo) (i32.const 2))))
          (local.set $src (i32.add (local.get $plane) (i32.shl
            (i32.add
              (i32.mul (i32.add (i32.mul (local.get $y) (local.get $strideH)) (local.get $rowOffset)) (local.get $inW))
              (i32.add (i32.mul (local.get $xLo) (local.get $strideW)) (local.get $colOffset)))
            (i32.const 2))))
          (if (i32.eq (local.get $strideW) (i32.const 1))
            (then
              (memory.copy (local.get $dst) (local.get $src) (i32.shl (local.get $run) (i32.const 2)))
              (local.set $dst (i32.add (local.get $dst) (i32.shl (local.get $run) (i32.const 2)))))
            (else
              (local.set $end (i32.add (local.get $dst) (i32.shl (local.get $run) (i32.const 2))))
              (block $copied (loop $copy
                (br_if $copied (i32.ge_u (local.get $dst) (local.get $end)))
                (f32.store (local.get $dst) (f32.load (local.get $src)))
                (local.set $dst (i32.add (local.get $dst) (i32.const 4)))
                (local.set $src (i32.add (local.get $src) (local.get $step)))
                (br $copy)))))
          (memory.fill (local.get $dst) (i32.const 0) (i32.shl (local.get $tail) (i32.const 2)))
          (local.set $dst (i32.add (local.get $dst) (i32.shl (local.get $tail) (i32.const 2))))
          (local.set $y (i32.add (local.get $y) (i32.const 1)))
          (br $each_row)))
        (memory.fill (local.get $dst) (i32.const 0) (i32.shl (i32.mul (i32.sub (local.get $outH) (local.get $yHi)) (local.get $outW)) (i32.const 2)))
        (local.set $dst (i32.add (local.get $dst) (i32.shl (i32.mul (i32.sub (local.get $outH) (local.get $yHi)) (local.get $outW)) (i32.const 2))))
        (local.set $b (i32.add (local.get $b) (i32.const 1)))
        (br $each_image)))
      (local.set $ci (i32.add (local.get $ci) (i32.const 1)))
      (br $each_channel))))
  ;; Scatters one sub-pixel phase of a strided input gradient: src [batch, rowsIn, colsIn, c]
  ;; to dst[b, q * strideH + phaseH, p * strideW + phaseW, :] of dst [batch, height, width, c],
  ;; dropping the positions that fall past the image.
  (func (export "scatterPhase")
    (param $src i32) (param $dst i32) (param $batch i32) (param $rowsIn i32) (param $colsIn i32) (param $c i32)
    (param $height i32) (param $width i32) (param $phaseH i32) (param $phaseW i32) (param $strideH i32) (param $strideW i32)
    (local $b i32) (local $q i32) (local $p i32) (local $i i32) (local $j i32) (local $bytes i32) (local $from i32)
    (local.set $bytes (i32.shl (local.get $c) (i32.const 2)))
    (local.set $from (local.get $src))
    (block $images_done (loop $each_image
      (br_if $images_done (i32.ge_u (local.get $b) (local.get $batch)))
      (local.set $q (i32.const 0))
      (block $rows_done (loop $each_row
        (br_if $rows_done (i32.ge_u (local.get $q) (local.get $rowsIn)))
        (local.set $i (i32.add (i32.mul (local.get $q) (local.get $strideH)) (local.get $phaseH)))
        (local.set $p (i32.const 0))
        (block $cols_done (loop $each_col
          (br_if $cols_done (i32.ge_u (local.get $p) (local.get $colsIn)))
          (local.set $j (i32.add (i32.mul (local.get $p) (local.get $strideW)) (local.get $phaseW)))
          (if (i32.and (i32.lt_u (local.get $i) (local.get $height)) (i32.lt_u (local.get $j) (local.get $width)))
            (then (memory.copy
              (i32.add (local.get $dst) (i32.mul (i32.add (i32.mul (i32.add (i32.mul (local.get $b) (local.get $height)) (local.get $i)) (local.get $width)) (local.get $j)) (local.get $bytes)))
              (local.get $from) (local.get $bytes))))
          (local.set $from (i32.add (local.get $from) (local.get $bytes)))
          (local.set $p (i32.add (local.get $p) (i32.const 1)))
          (br $each_col)))
        (local.set $q (i32.add (local.get $q) (i32.const 1)))
        (br $each_row)))
      (local.set $b (i32.add (local.get $b) (i32.const 1)))
      (br $each_image))))

  ;; ---- Winograd algorithms for 3x3 convolutions (Lavin and Gray, 2016) ----
  ;; An m x m output tile is A^T [(G g G^T) . (B^T d B)] A for its input window d (n x n) and
  ;; filter g: n^2 products per tile and channel pair instead of 9 m^2. Stride 1: n = m + 2
  ;; (m = 4: 36 for 144; m = 5: 49 for 225); stride 2 (the polyphase algorithm, see
  ;; scripts/winograd/cook_toom.ts): n = 2 m + 1 (m = 7: 225 for 441). These loops walk the tiles
  ;; and channels, four channels at a time (c % 4 == 0), and call the transforms of one tile
  ;; (winograd_tiles.wat) of variant $variant. The transform-domain planes are reached through
  ;; $table, the i32 byte addresses of the n^2 (point (i, j): entry n i + j), so that each can be
  ;; a tensor of its own; tile t = (b * tilesH + ty) * tilesW + tx of image b is row t of every
  ;; plane (tiles past the last image, up to $planeTiles, are zero).

  ;; Bit k set where $start + k lies in [0, $size), for k < $n.
  (func $insideMask (param $start i32) (param $n i32) (param $size i32) (result i32)
    (local $k i32) (local $mask i32)
    (block $done (loop $each
      (br_if $done (i32.ge_u (local.get $k) (local.get $n)))
      (if (i32.lt_u (i32.add (local.get $start) (local.get $k)) (local.get $size))
        (then (local.set $mask (i32.or (local.get $mask) (i32.shl (i32.const 1) (local.get $k))))))
      (local.set $k (i32.add (local.get $k) (i32.const 1)))
      (br $each)))
    (local.get $mask))

  ;; Calls tile function $function for every tile below $planeTiles and group of four channels:
  ;; its $n x $n window of the images at $image ([batch, h, w, c]), from row ty $step - $padTop
  ;; and column tx $step - $padLeft (the masks say which rows and columns lie inside the image;
  ;; only masked accesses touch memory, so the corner may lie outside), and its planes' offset;
  ;; $bias (0: none) and $floor for the output's epilogue.
  (func $imageTiles
    (param $function i32) (param $image i32) (param $table i32) (param $batch i32) (param $h i32) (param $w i32) (param $c i32)
    (param $tilesH i32) (param $tilesW i32) (param $planeTiles i32) (param $step i32) (param $n i32) (param $padTop i32) (param $padLeft i32)
    (param $bias i32) (param $floor v128) (param $scratch i32)
    (local $tile i32) (local $b i32) (local $y0 i32) (local $x0 i32) (local $corner i32) (local $rows i32) (local $cols i32)
    (local $k i32) (local $pixelBytes i32)
    (local.set $pixelBytes (i32.shl (local.get $c) (i32.const 2)))
    (block $tiles_done (loop $each_tile
      (br_if $tiles_done (i32.ge_u (local.get $tile) (local.get $planeTiles)))
      (local.set $b (i32.div_u (local.get $tile) (i32.mul (local.get $tilesH) (local.get $tilesW))))
      (local.set $y0 (i32.sub (i32.mul (i32.rem_u (i32.div_u (local.get $tile) (local.get $tilesW)) (local.get $tilesH)) (local.get $step)) (local.get $padTop)))
      (local.set $x0 (i32.sub (i32.mul (i32.rem_u (local.get $tile) (local.get $tilesW)) (local.get $step)) (local.get $padLeft)))
      (local.set $corner (i32.add (local.get $image) (i32.mul (local.get $pixelBytes)
        (i32.add (i32.mul (i32.add (i32.mul (local.get $b) (local.get $h)) (local.get $y0)) (local.get $w)) (local.get $x0)))))
      (local.set $rows (select (call $insideMask (local.get $y0) (local.get $n) (local.get $h)) (i32.const 0) (i32.lt_u (local.get $b) (local.get $batch))))
      (local.set $cols (call $insideMask (local.get $x0) (local.get $n) (local.get $w)))
      (local.set $k (i32.const 0))
      (block $channels_done (loop $each_channel
        (br_if $channels_done (i32.ge_u (local.get $k) (local.get $c)))
        (call_indirect $winogradTiles (type $tile)
          (i32.add (local.get $corner) (i32.shl (local.get $k) (i32.const 2))) (local.get $pixelBytes) (i32.mul (local.get $w) (local.get $pixelBytes))
          (local.get $rows) (local.get $cols) (local.get $table) (i32.shl (i32.add (i32.mul (local.get $tile) (local.get $c)) (local.get $k)) (i32.const 2))
          (if (result v128) (local.get $bias)
            (then (v128.load (i32.add (local.get $bias) (i32.shl (local.get $k) (i32.const 2)))))
            (else (v128.const i32x4 0 0 0 0)))
          (local.get $floor) (local.get $scratch) (local.get $function))
        (local.set $k (i32.add (local.get $k) (i32.const 4)))
        (br $each_channel)))
      (local.set $tile (i32.add (local.get $tile) (i32.const 1)))
      (br $each_tile))))

  ;; Input transform B^T d B: x [batch, inH, inW, c] to planes [planeTiles, c]; windows of
  ;; (m - 1) stride + 3 from (ty, tx) m stride - pad.
  (func (export "winogradInput")
    (param $x i32) (param $table i32) (param $batch i32) (param $inH i32) (param $inW i32) (param $c i32)
    (param $tilesH i32) (param $tilesW i32) (param $planeTiles i32) (param $m i32) (param $stride i32)
    (param $padTop i32) (param $padLeft i32) (param $variant i32) (param $scratch i32)
    (call $imageTiles (i32.add (global.get $inputTiles) (local.get $variant)) (local.get $x) (local.get $table)
      (local.get $batch) (local.get $inH) (local.get $inW) (local.get $c) (local.get $tilesH) (local.get $tilesW) (local.get $planeTiles)
      (i32.mul (local.get $m) (local.get $stride)) (i32.add (i32.mul (i32.sub (local.get $m) (i32.const 1)) (local.get $stride)) (i32.const 3))
      (local.get $padTop) (local.get $padLeft) (i32.const 0) (v128.const i32x4 0 0 0 0) (local.get $scratch)))

  ;; Output gradient transform A dy A^T (for the gradients): dy [batch, outH, outW, c], m x m
  ;; tiles (zero past the image), to planes [planeTiles, c].
  (func (export "winogradOutputGradient")
    (param $dy i32) (param $table i32) (param $batch i32) (param $outH i32) (param $outW i32) (param $c i32)
    (param $tilesH i32) (param $tilesW i32) (param $planeTiles i32) (param $m i32) (param $variant i32) (param $scratch i32)
    (call $imageTiles (i32.add (global.get $outputGradientTiles) (local.get $variant)) (local.get $dy) (local.get $table)
      (local.get $batch) (local.get $outH) (local.get $outW) (local.get $c) (local.get $tilesH) (local.get $tilesW) (local.get $planeTiles)
      (local.get $m) (local.get $m) (i32.const 0) (i32.const 0) (i32.const 0) (v128.const i32x4 0 0 0 0) (local.get $scratch)))

  ;; Output transform A^T m A: planes [tiles, c] to y [batch, outH, outW, c] (the part of each
  ;; m x m tile inside the image), plus $bias [c] unless $bias is 0, then max(0, .) if $relu.
  (func (export "winogradOutput")
    (param $table i32) (param $y i32) (param $bias i32) (param $relu i32) (param $batch i32) (param $outH i32) (param $outW i32)
    (param $c i32) (param $tilesH i32) (param $tilesW i32) (param $m i32) (param $variant i32) (param $scratch i32)
    (call $imageTiles (i32.add (global.get $outputTiles) (local.get $variant)) (local.get $y) (local.get $table)
      (local.get $batch) (local.get $outH) (local.get $outW) (local.get $c) (local.get $tilesH) (local.get $tilesW)
      (i32.mul (local.get $batch) (i32.mul (local.get $tilesH) (local.get $tilesW)))
      (local.get $m) (local.get $m) (i32.const 0) (i32.const 0) (local.get $bias)
      ;; Without ReLU the floor is -infinity: max leaves every value (NaN included) as it is.
      (select (result v128) (v128.const i32x4 0 0 0 0) (v128.const f32x4 -inf -inf -inf -inf) (local.get $relu))
      (local.get $scratch)))

  ;; The input transform's adjoint, B dv B^T, added into dx [batch, inH, inW, c] (zeroed by the
  ;; caller; windows that overlap add up): the input gradient of a strided convolution.
  (func (export "winogradInputGradient")
    (param $table i32) (param $dx i32) (param $batch i32) (param $inH i32) (param $inW i32) (param $c i32)
    (param $tilesH i32) (param $tilesW i32) (param $m i32) (param $stride i32) (param $padTop i32) (param $padLeft i32)
    (param $variant i32) (param $scratch i32)
    (call $imageTiles (i32.add (global.get $inputGradientTiles) (local.get $variant)) (local.get $dx) (local.get $table)
      (local.get $batch) (local.get $inH) (local.get $inW) (local.get $c) (local.get $tilesH) (local.get $tilesW)
      (i32.mul (local.get $batch) (i32.mul (local.get $tilesH) (local.get $tilesW)))
      (i32.mul (local.get $m) (local.get $stride)) (i32.add (i32.mul (i32.sub (local.get $m) (i32.const 1)) (local.get $stride)) (i32.const 3))
      (local.get $padTop) (local.get $padLeft) (i32.const 0) (v128.const i32x4 0 0 0 0) (local.get $scratch)))

  ;; Filter transform G g G^T: w [3, 3, ci, co] to planes [ci, co]; with $flip the taps are read
  ;; in reverse (the filter rotated by 180 degrees, for a stride-1 input gradient).
  (func (export "winogradFilter") (param $w i32) (param $table i32) (param $ci i32) (param $co i32) (param $flip i32)
    (param $variant i32) (param $scratch i32)
    (local $offset i32) (local $tapBytes i32) (local $step i32)
    (local.set $tapBytes (i32.shl (i32.mul (local.get $ci) (local.get $co)) (i32.const 2)))
    (local.set $step (select (i32.sub (i32.const 0) (local.get $tapBytes)) (local.get $tapBytes) (local.get $flip)))
    (block $done (loop $each
      (br_if $done (i32.ge_u (local.get $offset) (local.get $tapBytes)))
      (call_indirect $winogradTiles (type $tile)
        (i32.add (i32.add (local.get $w) (local.get $offset)) (select (i32.mul (local.get $tapBytes) (i32.const 8)) (i32.const 0) (local.get $flip)))
        (local.get $step) (i32.mul (local.get $step) (i32.const 3)) (i32.const -1) (i32.const -1) (local.get $table) (local.get $offset)
        (v128.const i32x4 0 0 0 0) (v128.const i32x4 0 0 0 0) (local.get $scratch)
        (i32.add (global.get $filterTiles) (local.get $variant)))
      (local.set $offset (i32.add (local.get $offset) (i32.const 16)))
      (br $each))))

  ;; Filter gradient G^T du G: planes [ci, co] to dw [3, 3, ci, co].
  (func (export "winogradFilterGradient") (param $table i32) (param $dw i32) (param $ci i32) (param $co i32)
    (param $variant i32) (param $scratch i32)
    (local $offset i32) (local $tapBytes i32)
    (local.set $tapBytes (i32.shl (i32.mul (local.get $ci) (local.get $co)) (i32.const 2)))
    (block $done (loop $each
      (br_if $done (i32.ge_u (local.get $offset) (local.get $tapBytes)))
      (call_indirect $winogradTiles (type $tile)
        (i32.add (local.get $dw) (local.get $offset)) (local.get $tapBytes) (i32.mul (local.get $tapBytes) (i32.const 3))
        (i32.const -1) (i32.const -1) (local.get $table) (local.get $offset)
        (v128.const i32x4 0 0 0 0) (v128.const i32x4 0 0 0 0) (local.get $scratch)
        (i32.add (global.get $filterGradientTiles) (local.get $variant)))
      (local.set $offset (i32.add (local.get $offset) (i32.const 16)))
      (br $each))))

  ;; ---- The transform domain's products: one matrix product per point ----
  ;; c = a b (a [m, k]), or with $transposeA, c = a^T b (a [k, m]); b [k, n], c [m, n], all
  ;; row-major; m % 4 == 0, n % 8 == 0. Blocks of 4 rows by 8 columns, each of a's values
  ;; broadcast against a row of b. XNNPACK's GEMM (tfjs's BatchMatMul) would re-pack every
  ;; plane's b first, new every training step: 15-25% of the products' time, and it takes no
  ;; transposed a.

  ;; The 4 x 8 block of c at $c (rows $cRow bytes apart) = sum over $k steps of a's column
  ;; (4 values) times b's row (at $b, rows $bRow bytes apart). $blockRows: a's 4 values in 4
  ;; rows $aRow bytes apart, a step 4 bytes (c = a b); $blockColumns: a's 4 values side by side,
  ;; a step $aRow bytes (c = a^T b).
  (func $blockRows (param $a i32) (param $aRow i32) (param $b i32) (param $bRow i32) (param $k i32) (param $c i32) (param $cRow i32)
    (local $a1 i32) (local $a2 i32) (local $a3 i32) (local $b0 v128) (local $b1 v128) (local $x v128)
    (local $c00 v128) (local $c01 v128) (local $c10 v128) (local $c11 v128) (local $c20 v128) (local $c21 v128) (local $c30 v128) (local $c31 v128)
    (local.set $a1 (i32.add (local.get $a) (local.get $aRow)))
    (local.set $a2 (i32.add (local.get $a1) (local.get $aRow)))
    (local.set $a3 (i32.add (local.get $a2) (local.get $aRow)))
    (block $done (loop $each
      (br_if $done (i32.eqz (local.get $k)))
      (local.set $b0 (v128.load (local.get $b)))
      (local.set $b1 (v128.load offset=16 (local.get $b)))
      (local.set $x (v128.load32_splat (local.get $a)))
      (local.set $c00 (f32x4.add (local.get $c00) (f32x4.mul (local.get $x) (local.get $b0))))
      (local.set $c01 (f32x4.add (local.get $c01) (f32x4.mul (local.get $x) (local.get $b1))))
      (local.set $x (v128.load32_splat (local.get $a1)))
      (local.set $c10 (f32x4.add (local.get $c10) (f32x4.mul (local.get $x) (local.get $b0))))
      (local.set $c11 (f32x4.add (local.get $c11) (f32x4.mul (local.get $x) (local.get $b1))))
      (local.set $x (v128.load32_splat (local.get $a2)))
      (local.set $c20 (f32x4.add (local.get $c20) (f32x4.mul (local.get $x) (local.get $b0))))
      (local.set $c21 (f32x4.add (local.get $c21) (f32x4.mul (local.get $x) (local.get $b1))))
      (local.set $x (v128.load32_splat (local.get $a3)))
      (local.set $c30 (f32x4.add (local.get $c30) (f32x4.mul (local.get $x) (local.get $b0))))
      (local.set $c31 (f32x4.add (local.get $c31) (f32x4.mul (local.get $x) (local.get $b1))))
      (local.set $a (i32.add (local.get $a) (i32.const 4)))
      (local.set $a1 (i32.add (local.get $a1) (i32.const 4)))
      (local.set $a2 (i32.add (local.get $a2) (i32.const 4)))
      (local.set $a3 (i32.add (local.get $a3) (i32.const 4)))
      (local.set $b (i32.add (local.get $b) (local.get $bRow)))
      (local.set $k (i32.sub (local.get $k) (i32.const 1)))
      (br $each)))
    (call $store4x8 (local.get $c) (local.get $cRow)
      (local.get $c00) (local.get $c01) (local.get $c10) (local.get $c11) (local.get $c20) (local.get $c21) (local.get $c30) (local.get $c31)))

  (func $blockColumns (param $a i32) (param $aRow i32) (param $b i32) (param $bRow i32) (param $k i32) (param $c i32) (param $cRow i32)
    (local $b0 v128) (local $b1 v128) (local $x v128)
    (local $c00 v128) (local $c01 v128) (local $c10 v128) (local $c11 v128) (local $c20 v128) (local $c21 v128) (local $c30 v128) (local $c31 v128)
    (block $done (loop $each
      (br_if $done (i32.eqz (local.get $k)))
      (local.set $b0 (v128.load (local.get $b)))
      (local.set $b1 (v128.load offset=16 (local.get $b)))
      (local.set $x (v128.load32_splat (local.get $a)))
      (local.set $c00 (f32x4.add (local.get $c00) (f32x4.mul (local.get $x) (local.get $b0))))
      (local.set $c01 (f32x4.add (local.get $c01) (f32x4.mul (local.get $x) (local.get $b1))))
      (local.set $x (v128.load32_splat offset=4 (local.get $a)))
      (local.set $c10 (f32x4.add (local.get $c10) (f32x4.mul (local.get $x) (local.get $b0))))
      (local.set $c11 (f32x4.add (local.get $c11) (f32x4.mul (local.get $x) (local.get $b1))))
      (local.set $x (v128.load32_splat offset=8 (local.get $a)))
      (local.set $c20 (f32x4.add (local.get $c20) (f32x4.mul (local.get $x) (local.get $b0))))
      (local.set $c21 (f32x4.add (local.get $c21) (f32x4.mul (local.get $x) (local.get $b1))))
      (local.set $x (v128.load32_splat offset=12 (local.get $a)))
      (local.set $c30 (f32x4.add (local.get $c30) (f32x4.mul (local.get $x) (local.get $b0))))
      (local.set $c31 (f32x4.add (local.get $c31) (f32x4.mul (local.get $x) (local.get $b1))))
      (local.set $a (i32.add (local.get $a) (local.get $aRow)))
      (local.set $b (i32.add (local.get $b) (local.get $bRow)))
      (local.set $k (i32.sub (local.get $k) (i32.const 1)))
      (br $each)))
    (call $store4x8 (local.get $c) (local.get $cRow)
      (local.get $c00) (local.get $c01) (local.get $c10) (local.get $c11) (local.get $c20) (local.get $c21) (local.get $c30) (local.get $c31)))

  (func $store4x8 (param $c i32) (param $cRow i32)
    (param $c00 v128) (param $c01 v128) (param $c10 v128) (param $c11 v128) (param $c20 v128) (param $c21 v128) (param $c30 v128) (param $c31 v128)
    (v128.store (local.get $c) (local.get $c00)) (v128.store offset=16 (local.get $c) (local.get $c01))
    (local.set $c (i32.add (local.get $c) (local.get $cRow)))
    (v128.store (local.get $c) (local.get $c10)) (v128.store offset=16 (local.get $c) (local.get $c11))
    (local.set $c (i32.add (local.get $c) (local.get $cRow)))
    (v128.store (local.get $c) (local.get $c20)) (v128.store offset=16 (local.get $c) (local.get $c21))
    (local.set $c (i32.add (local.get $c) (local.get $cRow)))
    (v128.store (local.get $c) (local.get $c30)) (v128.store offset=16 (local.get $c) (local.get $c31)))

  ;; The products of the $points planes of $aTable and $bTable into those of $cTable.
  (func (export "winogradProducts")
    (param $aTable i32) (param $bTable i32) (param $cTable i32) (param $points i32)
    (param $m i32) (param $k i32) (param $n i32) (param $transposeA i32)
    (local $p i32) (local $i i32) (local $j i32) (local $a i32) (local $b i32) (local $c i32)
    (block $points_done (loop $each_point
      (br_if $points_done (i32.ge_u (local.get $p) (local.get $points)))
      (local.set $a (i32.load (i32.add (local.get $aTable) (i32.shl (local.get $p) (i32.const 2)))))
      (local.set $b (i32.load (i32.add (local.get $bTable) (i32.shl (local.get $p) (i32.const 2)))))
      (local.set $c (i32.load (i32.add (local.get $cTable) (i32.shl (local.get $p) (i32.const 2)))))
      (local.set $j (i32.const 0))
      (block $columns_done (loop $each_column
        (br_if $columns_done (i32.ge_u (local.get $j) (local.get $n)))
        (local.set $i (i32.const 0))
        (block $rows_done (loop $each_row
          (br_if $rows_done (i32.ge_u (local.get $i) (local.get $m)))
          (if (local.get $transposeA)
            (then (call $blockColumns
              (i32.add (local.get $a) (i32.shl (local.get $i) (i32.const 2))) (i32.shl (local.get $m) (i32.const 2))
              (i32.add (local.get $b) (i32.shl (local.get $j) (i32.const 2))) (i32.shl (local.get $n) (i32.const 2)) (local.get $k)
              (i32.add (local.get $c) (i32.shl (i32.add (i32.mul (local.get $i) (local.get $n)) (local.get $j)) (i32.const 2)))
              (i32.shl (local.get $n) (i32.const 2))))
            (else (call $blockRows
              (i32.add (local.get $a) (i32.mul (local.get $i) (i32.shl (local.get $k) (i32.const 2)))) (i32.shl (local.get $k) (i32.const 2))
              (i32.add (local.get $b) (i32.shl (local.get $j) (i32.const 2))) (i32.shl (local.get $n) (i32.const 2)) (local.get $k)
              (i32.add (local.get $c) (i32.shl (i32.add (i32.mul (local.get $i) (local.get $n)) (local.get $j)) (i32.const 2)))
              (i32.shl (local.get $n) (i32.const 2)))))
          (local.set $i (i32.add (local.get $i) (i32.const 4)))
          (br $each_row)))
        (local.set $j (i32.add (local.get $j) (i32.const 8)))
        (br $each_column)))
      (local.set $p (i32.add (local.get $p) (i32.const 1)))
      (br $each_point))))

  ;; winograd_tiles.wat (generated by scripts/winograd/winograd_wat.ts) goes here: scripts/build_kernels.ts inserts it.
)
