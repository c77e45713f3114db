// The lab's S3 server (src/lab/s3.ts), its pure parts: the backend URL Pulumi is given, the
// checks of what a test passes (each error names the field and a fix), the server's command
// line (every port on our address, nothing sent out, no extra catalogs) and its identities.
import { describe, expect, test } from "vitest";
import { bucketListed, checkBucketName, s3BackendUrl, s3Identities, weedServerArgs } from "../../src/lab/s3";

const ports = { master: 21001, volume: 21002, filer: 21003, s3: 21004 };
const args = (address = "127.0.0.1", p = ports) =>
  weedServerArgs({ dataDir: "/tmp/x/s3/data", address, ports: p, configFile: "/tmp/x/s3/identities.json", socketDir: "/tmp/x/s3" });

describe("the backend URL", () => {
  test("names the bucket, the endpoint over plain HTTP, path-style addressing and the region", () => {
    expect(s3BackendUrl("boreal-state", "127.0.0.1", 28333)).toBe(
      "s3://boreal-state?endpoint=http://127.0.0.1:28333&s3ForcePathStyle=true&region=us-east-1&response_checksum_validation=when_required",
    );
    expect(s3BackendUrl("team.state-1", "198.51.100.1", 1)).toBe(
      "s3://team.state-1?endpoint=http://198.51.100.1:1&s3ForcePathStyle=true&region=us-east-1&response_checksum_validation=when_required",
    );
  });

  test.each([
    ["", /bucket must be 3 to 63/],
    ["ab", /bucket must be 3 to 63/],
    ["Boreal", /bucket must be 3 to 63.*got "Boreal"/],
    ["boreal_state", /bucket must be/],
    ["-boreal", /bucket must be/],
    ["boreal.", /bucket must be/],
    ["a..b", /bucket must be/],
    ["10.0.0.1", /not an IPv4 address/],
    ["x".repeat(64), /bucket must be/],
    ["a?b", /bucket must be/],
  ])("refuses the bucket %j, naming the field and an example", (bucket, message) => {
    expect(() => checkBucketName(bucket)).toThrow(message);
    expect(() => s3BackendUrl(bucket, "127.0.0.1", 8333)).toThrow(/e\.g\. bucket: "boreal-state"/);
  });

  test.each([
    ["192.0.2.10", /192\.0\.2\.10 is in 192\.0\.2\.0\/24, the host's uplink/],
    ["0.0.0.0", /every address of this host's/],
    ["localhost", /address must be an IPv4 address.*got "localhost"/],
    ["::1", /address must be an IPv4 address/],
    ["127.0.0.1:8333", /address must be an IPv4 address/],
  ])("refuses the address %j, with the loopback as the fix", (address, message) => {
    expect(() => s3BackendUrl("boreal-state", address, 8333)).toThrow(message);
    expect(() => s3BackendUrl("boreal-state", address, 8333)).toThrow(/e\.g\. address: "127\.0\.0\.1"/);
  });

  test.each([0, 65536, 8333.5, Number.NaN])("refuses the port %s", (port) => {
    expect(() => s3BackendUrl("boreal-state", "127.0.0.1", port)).toThrow(/port must be a whole number from 1 to 65535/);
  });
});

describe("the server's command line", () => {
  test("master, volume server, filer and S3 gateway in one weed server, every one on our address alone", () => {
    const line = args("198.51.100.1");
    expect(line[0]).toBe("server");
    expect(line).toEqual(
      expect.arrayContaining([
        "-ip=198.51.100.1",
        "-ip.bind=198.51.100.1",
        "-master.port=21001",
        "-volume.port=21002",
        "-filer",
        "-filer.port=21003",
        "-s3",
        "-s3.port=21004",
        "-dir=/tmp/x/s3/data",
        "-s3.config=/tmp/x/s3/identities.json",
      ]),
    );
    // Nothing binds elsewhere: no option names another address, and no -*.ip.bind overrides it.
    expect(line.filter((a) => /\d+\.\d+\.\d+\.\d+/.test(a) && !a.includes("198.51.100.1"))).toEqual([]);
    expect(line.filter((a) => /ip\.bind|metricsIp/.test(a))).toEqual(["-ip.bind=198.51.100.1"]);
  });

  test("sends nothing out and opens no port beyond the four and their gRPC ports", () => {
    const line = args();
    expect(line).toContain("-master.telemetry=false");
    expect(line).toContain("-s3.port.iceberg=0");
    expect(line).toContain("-s3.port.lance=0");
    expect(line.some((a) => /^-(webdav|sftp|iam|mq\.broker|mq\.agent|debug)(=true)?$/.test(a))).toBe(false);
    expect(line.some((a) => a.startsWith("-metricsPort"))).toBe(false);
    // Its Unix sockets in its own directory, not /tmp/seaweedfs-*.sock shared with anyone's.
    expect(line).toContain("-filer.localSocket=/tmp/x/s3/filer.sock");
    expect(line).toContain("-s3.localSocket=/tmp/x/s3/s3.sock");
  });

  test("refuses a port whose gRPC port (+10000) would not exist, and the uplink", () => {
    expect(() => args("127.0.0.1", { ...ports, filer: 60000 })).toThrow(
      /ports\.filer \+ 10000 \(its gRPC port\) must be a whole number from 1 to 65535, got 70000/,
    );
    expect(() => args("127.0.0.1", { ...ports, s3: 0 })).toThrow(/ports\.s3 must be/);
    expect(() => args("192.0.2.1")).toThrow(/uplink/);
  });
});

describe("the credentials", () => {
  test("one identity with the key pair and every right; nobody anonymous", () => {
    const config = JSON.parse(s3Identities("BOREALKEY", "secret/+=")) as {
      identities: { name: string; credentials?: { accessKey: string; secretKey: string }[]; actions: string[] }[];
    };
    expect(config.identities).toHaveLength(1);
    expect(config.identities[0].credentials).toEqual([{ accessKey: "BOREALKEY", secretKey: "secret/+=" }]);
    expect(config.identities[0].actions).toEqual(expect.arrayContaining(["Admin", "Read", "List", "Write"]));
    expect(config.identities.some((i) => i.name === "anonymous")).toBe(false);
  });
});

describe("weed shell's bucket list", () => {
  test("a bucket is listed by its own name, not as a prefix of another", () => {
    const output = "> s3.bucket.list\n  boreal-state-2\tsize:0\tchunk:0\n  other\tsize:10\n> exit\n";
    expect(bucketListed(output, "boreal-state-2")).toBe(true);
    expect(bucketListed(output, "boreal-state")).toBe(false);
    expect(bucketListed("", "boreal-state")).toBe(false);
  });
});
