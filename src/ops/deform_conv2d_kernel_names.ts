import type { TensorInfo } from '@tensorflow/tfjs';

/**
 * Names, inputs and attributes of the kernels behind deformConv2d: the deformable
 * im2col and its backward (col2im). A backend with a kernel under these names gets the
 * fused path; any other backend gets the composition of standard tf ops.
 */

/**
 * Where every kernel tap samples, independent of the batch: x is [B, inHeight, inWidth,
 * inChannels], offsets and mask are laid out over [B, outHeight, outWidth, ...]. Tap (u, v)
 * of output (i, j) samples at
 *   (i * strideHeight - padTop + u * dilationHeight + dy, j * strideWidth - padLeft + v * dilationWidth + dx).
 * Plain numbers, so it travels as a kernel's attributes.
 */
export interface DeformConvGeometry {
  inHeight: number;
  inWidth: number;
  inChannels: number;
  outHeight: number;
  outWidth: number;
  kernelHeight: number;
  kernelWidth: number;
  strideHeight: number;
  strideWidth: number;
  dilationHeight: number;
  dilationWidth: number;
  padTop: number;
  padLeft: number;
  /** G: input channel c takes the offsets (and mask) of group floor(c / (inChannels / G)). */
  offsetGroups: number;
}

/**
 * Deformable im2col. Inputs: x [B,H,W,Cin], offsets [B,Ho,Wo,2*G*kh*kw], optional mask
 * [B,Ho,Wo,G*kh*kw]. Attributes: DeformConvGeometry. Output: columns
 * [B*Ho*Wo, kh*kw*Cin], row (b,i,j), column (u*kw + v)*Cin + c: the layout of a
 * [kh,kw,Cin,Cout] kernel reshaped to [kh*kw*Cin, Cout].
 */
export const DEFORM_IM2COL = 'DeformIm2Col';
export type DeformIm2ColInputs = Record<'x' | 'offsets', TensorInfo> & { mask?: TensorInfo };

/**
 * Backward of DeformIm2Col for the columns' gradient dColumns. Inputs: dColumns, x,
 * offsets, optional mask. Outputs: [dx, dOffsets] or, with a mask, [dx, dOffsets, dMask].
 */
export const DEFORM_COL2IM = 'DeformCol2Im';
export type DeformCol2ImInputs = Record<'dColumns' | 'x' | 'offsets', TensorInfo> & { mask?: TensorInfo };
