import { describe, expect, it } from 'vitest';
import { simulatedRegistry } from './registry.ts';

const A = '3f6c1b7e-1d2a-4c5b-9e8f-0a1b2c3d4e5f';
const B = '9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d';
const title = { unitId: 'U-CLEAN-1', sellerIdNumber: 'S7654321' };
const transfer = { ...title, buyerIdNumber: 'B1234567', buyerName: 'Mina Park' };

describe('simulatedRegistry', () => {
  it('gives the lock to exactly one of two concurrent cases', async () => {
    const registry = simulatedRegistry();
    const [a, b] = await Promise.all([
      registry.checkTitle(A, title),
      registry.checkTitle(B, title),
    ]);
    expect([a.lockPlaced, b.lockPlaced].filter(Boolean)).toHaveLength(1);
  });

  it('refuses to register for a case while another holds the lock', async () => {
    const registry = simulatedRegistry();
    await registry.checkTitle(A, title);
    const record = await registry.registerTransfer(B, transfer);
    expect(record).toMatchObject({ registered: false, lockedByAnotherCase: true });
  });

  it('keeps the lock when the registration is refused for a seizure', async () => {
    const registry = simulatedRegistry();
    const seized = { ...transfer, unitId: 'U-SEIZED-LATER-1' };
    await registry.checkTitle(A, seized);
    await registry.registerTransfer(A, seized);
    expect(await registry.checkTitle(B, seized)).toMatchObject({ lockedByAnotherCase: true });
  });

  it('uses the fixtures it is given instead of the defaults', async () => {
    const registry = simulatedRegistry({ 'U-CLEAN-1': { objection: true } });
    expect(await registry.checkTitle(A, title)).toMatchObject({
      objection: true,
      lockPlaced: false,
    });
  });

  it('refuses the title of a co-owned unit to a seller who is one of its owners, and locks nothing', async () => {
    const registry = simulatedRegistry();
    const coOwned = { ...title, unitId: 'U-COOWNED-1' };
    expect(await registry.checkTitle(A, coOwned)).toMatchObject({
      ownerMatches: true,
      allOwnersSelling: false,
      ownerCount: 2,
      lockPlaced: false,
    });
    expect(await registry.checkTitle(B, coOwned)).toMatchObject({ lockedByAnotherCase: false });
  });

  it("registers no sale of a co-owned unit by one owner, so the other's share stays theirs", async () => {
    const registry = simulatedRegistry();
    const coOwned = { ...transfer, unitId: 'U-COOWNED-1' };
    expect(await registry.registerTransfer(A, coOwned)).toMatchObject({
      registered: false,
      allOwnersSelling: false,
    });
    // The other co-owner is still on record.
    const other = { ...title, unitId: 'U-COOWNED-1', sellerIdNumber: 'C2345678' };
    expect(await registry.checkTitle(B, other)).toMatchObject({ ownerMatches: true });
  });

  it('gives a retried registration the same certificate', async () => {
    const registry = simulatedRegistry();
    await registry.checkTitle(A, title);
    const first = await registry.registerTransfer(A, transfer);
    const retry = await registry.registerTransfer(A, transfer);
    expect(retry.certificateNumber).toBe(first.certificateNumber);
    expect(first.certificateNumber).toMatch(/^RC-\d{9}$/);
  });
});
