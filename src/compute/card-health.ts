/**
 * What a session's calls on a card that went unhealthy answer (docs/operations.md, "Faults"). The
 * card's health is the vendor library's, found by UUID (cards.ts); the session is told by
 * ComputeEndpoint.cardHealthChanged() and answers without reaching the driver (the addon's poison).
 */

/** CUresults (cuda.h). */
export const CUDA_ERROR_DEVICE_UNAVAILABLE = 46;
export const CUDA_ERROR_ECC_UNCORRECTABLE = 214;

export const CUDA_ERROR_NAMES: Record<number, string> = {
  [CUDA_ERROR_DEVICE_UNAVAILABLE]: 'CUDA_ERROR_DEVICE_UNAVAILABLE',
  [CUDA_ERROR_ECC_UNCORRECTABLE]: 'CUDA_ERROR_ECC_UNCORRECTABLE',
};

/**
 * Xids that report uncorrectable memory errors: 48 (double-bit ECC), 63 and 64 (page retirement or
 * row remapping after one), 94 and 95 (contained and uncontained ECC errors).
 */
export const ECC_XIDS: readonly number[] = [48, 63, 64, 94, 95];

/**
 * CUDA_ERROR_ECC_UNCORRECTABLE after an ECC Xid or an NVML double-bit ECC event (the job's data on the
 * card may be corrupt), else CUDA_ERROR_DEVICE_UNAVAILABLE (the card is lost, or failed another way).
 */
export function poisonCode(card: { healthReason?: string; lastXid?: number }): number {
  const ecc = (card.lastXid !== undefined && ECC_XIDS.includes(card.lastXid)) || /double-bit ECC/.test(card.healthReason ?? '');
  return ecc ? CUDA_ERROR_ECC_UNCORRECTABLE : CUDA_ERROR_DEVICE_UNAVAILABLE;
}
