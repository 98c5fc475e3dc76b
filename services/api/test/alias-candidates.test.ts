import { describe, expect, it } from "vitest";
import { aliasCandidates } from "../src/identity-lookup";

describe("aliasCandidates", () => {
  it("maps what analysts paste onto the parsers' alias forms", () => {
    expect(aliasCandidates("arn:aws:iam::123456789012:role/ml-trainer-irsa")).toContain(
      "aws-role:123456789012:ml-trainer-irsa",
    );
    expect(aliasCandidates("arn:aws:sts::123456789012:assumed-role/Trainer/s1")).toContain(
      "aws-role:123456789012:Trainer",
    );
    expect(aliasCandidates("trainer@ml-proj.iam.gserviceaccount.com")).toContain(
      "gcp-sa:trainer@ml-proj.iam.gserviceaccount.com",
    );
    expect(aliasCandidates("Bob@Example.com")).toContain("human:bob@example.com");
    expect(aliasCandidates("6f1c2d3e")).toEqual(
      expect.arrayContaining(["vault-entity:6f1c2d3e", "minio-key:6f1c2d3e"]),
    );
    expect(aliasCandidates("system:serviceaccount:ml:trainer")).toEqual([
      "system:serviceaccount:ml:trainer",
      "raw:system:serviceaccount:ml:trainer",
    ]);
  });
});
