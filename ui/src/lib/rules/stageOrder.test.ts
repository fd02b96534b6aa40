import { describe, expect, it } from "vitest";
import { afterForSlot, clampSlot, orderWithNew, slotForKey, slotForPointer } from "./stageOrder";

const stages = [{ id: 1 }, { id: 2 }, { id: 3 }];

describe("where the new stage goes (R1)", () => {
  it("first slot means no stage before it", () => {
    expect(afterForSlot(stages, 0)).toBeNull();
  });
  it("a slot between stages inserts after the stage to its left", () => {
    expect(afterForSlot(stages, 1)).toBe(1);
    expect(afterForSlot(stages, 2)).toBe(2);
  });
  it("the last slot inserts after the last stage", () => {
    expect(afterForSlot(stages, 3)).toBe(3);
    expect(afterForSlot(stages, 9)).toBe(3);
  });
  it("slots stay within the row", () => {
    expect(clampSlot(-2, 3)).toBe(0);
    expect(clampSlot(7, 3)).toBe(3);
  });
});

describe("moving the new card with the keyboard", () => {
  it("arrows move one place and stop at the ends", () => {
    expect(slotForKey("ArrowLeft", 2, 3)).toBe(1);
    expect(slotForKey("ArrowRight", 2, 3)).toBe(3);
    expect(slotForKey("ArrowRight", 3, 3)).toBe(3);
    expect(slotForKey("ArrowLeft", 0, 3)).toBe(0);
  });
  it("Home and End jump to the ends", () => {
    expect(slotForKey("Home", 2, 3)).toBe(0);
    expect(slotForKey("End", 0, 3)).toBe(3);
  });
  it("other keys do not move it", () => {
    expect(slotForKey("Enter", 1, 3)).toBeNull();
  });
});

describe("dragging the new card", () => {
  const rects = [
    { left: 0, width: 100 },
    { left: 120, width: 100 },
  ];
  it("left of the first stage's middle is the first slot", () => {
    expect(slotForPointer(10, rects)).toBe(0);
  });
  it("between the two stages' middles is the middle slot", () => {
    expect(slotForPointer(110, rects)).toBe(1);
    expect(slotForPointer(160, rects)).toBe(1);
  });
  it("right of the last stage's middle is the last slot", () => {
    expect(slotForPointer(300, rects)).toBe(2);
  });
  it("shows the order with the new stage in its slot", () => {
    expect(orderWithNew(["dev", "prod"], 1, "canary")).toEqual(["dev", "canary", "prod"]);
  });
});
