import { describe, expect, it } from "vitest";
import { detectHardware } from "../../src/hardware/detectHardware.js";
import { parseCpuInfo } from "../../src/hardware/parseCpuInfo.js";
import { parseLdconfigCache } from "../../src/hardware/parseLdconfigCache.js";
import { parseMemInfo } from "../../src/hardware/parseMemInfo.js";
import { parseNvidiaSmiCsv } from "../../src/hardware/parseNvidiaSmiCsv.js";
import { parseRocmSmiJson } from "../../src/hardware/parseRocmSmiJson.js";
import { createFakeProbes, failed, ok } from "../helpers/hardwareFakes.js";

const MiB = 1024 ** 2;

const x86CpuInfo = [0, 1, 2, 3].map((processor) => [
    `processor\t: ${processor}`,
    "vendor_id\t: GenuineIntel",
    "model name\t: Intel(R) Xeon(R) Platinum 8480+",
    `physical id\t: ${processor < 2 ? 0 : 1}`,
    "siblings\t: 2",
    `core id\t\t: ${processor % 2}`,
    "cpu cores\t: 2",
    "flags\t\t: fpu vme pni ssse3 fma sse4_1 sse4_2 avx f16c avx2 avx512f avx512bw avx512vl avx512_vnni amx_tile",
    ""
].join("\n")).join("\n");

const armCpuInfo = [
    "processor\t: 0",
    "BogoMIPS\t: 243.75",
    "Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp sve i8mm bf16",
    "CPU implementer\t: 0x41",
    "",
    "processor\t: 1",
    "Features\t: fp asimd asimddp sve i8mm",
    ""
].join("\n");

const meminfo = "MemTotal:       65857580 kB\nMemFree:         1000000 kB\nMemAvailable:   50000000 kB\nBuffers:          123456 kB\n";

const rocmSmiJson = JSON.stringify({
    card0: {
        "VRAM Total Memory (B)": "206141652992",
        "VRAM Total Used Memory (B)": "296894464",
        "Card Model": "0x74a1",
        "Card Series": "AMD Instinct MI300X OAM",
        "Card Vendor": "Advanced Micro Devices, Inc. [AMD/ATI]"
    },
    card1: {
        "Card series": "Navi 31 [Radeon RX 7900 XT/7900 XTX]",
        "VRAM Total Memory (B)": "25753026560",
        "VRAM Total Used Memory (B)": "1753026560"
    },
    system: { "Driver version": "6.7.0" }
});

describe("parsers", () => {
    it("parses nvidia-smi CSV: MiB to bytes, [N/A] free, a comma in the name", () => {
        const rows = parseNvidiaSmiCsv("NVIDIA H100 80GB HBM3, 81559, 81003, 580.82.07\nNVIDIA A100-SXM4-40GB, rev 2, 40960, [N/A], 580.82.07\n\n");
        expect(rows).toEqual([
            { name: "NVIDIA H100 80GB HBM3", memoryTotalBytes: 81559 * MiB, memoryFreeBytes: 81003 * MiB, driverVersion: "580.82.07" },
            { name: "NVIDIA A100-SXM4-40GB, rev 2", memoryTotalBytes: 40960 * MiB, driverVersion: "580.82.07" }
        ]);
        expect(parseNvidiaSmiCsv("No devices were found\n")).toEqual([]);
        expect(parseNvidiaSmiCsv("Tesla T4, [N/A], [N/A], 535.1\n")).toEqual([]);
    });

    it("parses rocm-smi JSON whatever the key spelling, never taking the PCI id as the name", () => {
        expect(parseRocmSmiJson(rocmSmiJson)).toEqual([
            { name: "AMD Instinct MI300X OAM", memoryTotalBytes: 206141652992, memoryFreeBytes: 206141652992 - 296894464 },
            { name: "Navi 31 [Radeon RX 7900 XT/7900 XTX]", memoryTotalBytes: 25753026560, memoryFreeBytes: 24000000000 }
        ]);
        expect(parseRocmSmiJson("WARNING: No AMD GPUs specified")).toBeNull();
        expect(parseRocmSmiJson(JSON.stringify({ card0: { "Card Model": "0x73bf" } }))).toEqual([{ name: "card0" }]);
    });

    it("parses cpuinfo: model, physical cores over two sockets, x86 SIMD flags in a fixed order", () => {
        expect(parseCpuInfo(x86CpuInfo)).toEqual({
            model: "Intel(R) Xeon(R) Platinum 8480+",
            physicalCores: 4,
            logicalCpus: 4,
            simd: ["sse3", "ssse3", "sse4_1", "sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl", "avx512_vnni", "amx_tile"]
        });
    });

    it("maps ARM features to neon, dotprod, fp16, i8mm, sve, bf16", () => {
        const info = parseCpuInfo(armCpuInfo);
        expect(info.logicalCpus).toBe(2);
        expect(info.model).toBeUndefined();
        expect(info.physicalCores).toBeUndefined();
        expect(info.simd).toEqual(["neon", "dotprod", "fp16", "i8mm", "sve", "bf16"]);
    });

    it("parses meminfo, preferring MemAvailable", () => {
        expect(parseMemInfo(meminfo)).toEqual({ totalBytes: 65857580 * 1024, availableBytes: 50000000 * 1024 });
        expect(parseMemInfo("MemTotal: 2048 kB\nMemFree: 1024 kB\n")).toEqual({ totalBytes: 2048 * 1024, availableBytes: 1024 * 1024 });
    });

    it("parses ldconfig -p keeping only the process's architecture", () => {
        const text = [
            "1234 libs found in cache `/etc/ld.so.cache'",
            "\tlibcudart.so.12 (libc6) => /usr/lib/i386-linux-gnu/libcudart.so.12",
            "\tlibcudart.so.12 (libc6,x86-64) => /usr/local/cuda-12.4/lib64/libcudart.so.12",
            "\tlibvulkan.so.1 (libc6,x86-64, OS ABI: Linux 3.2.0) => /lib/x86_64-linux-gnu/libvulkan.so.1",
            "\tlibcuda.so.1 (libc6,AArch64) => /usr/lib/aarch64-linux-gnu/libcuda.so.1"
        ].join("\n");
        expect([...parseLdconfigCache(text, "x64")]).toEqual([
            ["libcudart.so.12", "/usr/local/cuda-12.4/lib64/libcudart.so.12"],
            ["libvulkan.so.1", "/lib/x86_64-linux-gnu/libvulkan.so.1"]
        ]);
        expect([...parseLdconfigCache(text, "arm64")]).toEqual([["libcuda.so.1", "/usr/lib/aarch64-linux-gnu/libcuda.so.1"]]);
    });
});

describe("detectHardware with fake probes", () => {
    it("reads NVIDIA GPUs from nvidia-smi with the documented query and finds a complete CUDA runtime", async () => {
        const probes = createFakeProbes({
            commands: {
                "nvidia-smi": (args) => args.join(" ") === "--query-gpu=name,memory.total,memory.free,driver_version --format=csv,noheader,nounits"
                    ? ok("NVIDIA H100 80GB HBM3, 81559, 81003, 580.82.07\nNVIDIA H100 80GB HBM3, 81559, 1000, 580.82.07\n")
                    : failed(2, "", "bad arguments")
            },
            libraries: ["libcuda.so.1", "libcudart.so.12", "libcublas.so.12", "libcublasLt.so.12", "libcudart.so.13"]
        });
        const report = await detectHardware(probes);
        expect(report.nvidia.present).toBe(true);
        expect(report.nvidia.nvidiaSmi).toBe("ok");
        expect(report.nvidia.driverVersion).toBe("580.82.07");
        expect(report.nvidia.devices).toEqual([
            { name: "NVIDIA H100 80GB HBM3", memoryTotalBytes: 81559 * MiB, memoryFreeBytes: 81003 * MiB },
            { name: "NVIDIA H100 80GB HBM3", memoryTotalBytes: 81559 * MiB, memoryFreeBytes: 1000 * MiB }
        ]);
        expect(report.nvidia.reason).toBe("nvidia-smi lists 2 GPU(s), driver 580.82.07");
        // CUDA 13 is incomplete (no cublas 13): only 12 counts.
        expect(report.nvidia.cudaRuntime).toMatchObject({ found: true, majorVersions: [12], driverLibraryFound: true, offLoaderPath: [] });
        expect(report.nvidia.cudaRuntime.libraries).toContain("/usr/lib/x86_64-linux-gnu/libcudart.so.13");
    });

    it("reports a failing nvidia-smi with its message and no GPU", async () => {
        const report = await detectHardware(createFakeProbes({
            commands: { "nvidia-smi": failed(9, "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. Make sure that the latest NVIDIA driver is installed and running.\n") }
        }));
        expect(report.nvidia.present).toBe(false);
        expect(report.nvidia.nvidiaSmi).toBe("failed");
        expect(report.nvidia.reason).toContain("nvidia-smi failed: NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver");
    });

    it("falls back to /proc and /dev when nvidia-smi is missing", async () => {
        const report = await detectHardware(createFakeProbes({
            files: { "/proc/driver/nvidia/version": "NVRM version: NVIDIA UNIX x86_64 Kernel Module  550.54.15  Tue Mar  5 22:23:56 UTC 2024\nGCC version:  gcc version 12.2.0\n" },
            dirs: { "/dev": ["null", "nvidia0", "nvidia1", "nvidiactl", "nvidia-uvm"] }
        }));
        expect(report.nvidia).toMatchObject({ present: true, driverVersion: "550.54.15", nvidiaSmi: "missing", devices: [] });
        expect(report.nvidia.reason).toContain("/dev/nvidia0, /dev/nvidia1");
    });

    it("marks CUDA libraries outside the loader path and does not count them", async () => {
        const report = await detectHardware(createFakeProbes({
            libraries: [
                "libcuda.so.1",
                ...["libcudart.so.12", "libcublas.so.12", "libcublasLt.so.12"].map((name) => ({ name, path: `/usr/local/cuda-12.4/lib64/${name}`, onLoaderPath: false }))
            ]
        }));
        expect(report.nvidia.cudaRuntime.found).toBe(false);
        expect(report.nvidia.cudaRuntime.majorVersions).toEqual([]);
        expect(report.nvidia.cudaRuntime.offLoaderPath).toEqual([
            "/usr/local/cuda-12.4/lib64/libcudart.so.12",
            "/usr/local/cuda-12.4/lib64/libcublas.so.12",
            "/usr/local/cuda-12.4/lib64/libcublasLt.so.12"
        ]);
    });

    it("reads AMD GPUs from rocm-smi, with /dev/kfd, the HIP runtime and the HIP build", async () => {
        const probes = createFakeProbes({
            commands: { "rocm-smi": ok(rocmSmiJson) },
            existing: ["/dev/kfd"],
            libraries: [{ name: "libamdhip64.so.6", path: "/opt/rocm/lib/libamdhip64.so.6", onLoaderPath: true }],
            binaries: { rocm: { found: true, source: "localBuild", path: "/x/localBuilds/linux-x64-h/Release", cmakeOptions: { GGML_HIP: "ON" }, reason: "local build linux-x64-h (GGML_HIP)" } }
        });
        const report = await detectHardware(probes);
        expect(probes.commandsRun).toContainEqual({ command: "rocm-smi", args: ["--showproductname", "--showmeminfo", "vram", "--json"] });
        expect(report.amd).toMatchObject({
            present: true,
            rocmSmi: "ok",
            kfd: true,
            hipRuntime: { found: true, libraries: ["/opt/rocm/lib/libamdhip64.so.6"] },
            hipBuild: { found: true, path: "/x/localBuilds/linux-x64-h/Release" }
        });
        expect(report.amd.devices.map((device) => device.name)).toEqual(["AMD Instinct MI300X OAM", "Navi 31 [Radeon RX 7900 XT/7900 XTX]"]);
        expect(report.amd.reason).toBe("/dev/kfd present, 2 AMD GPU(s) (rocm-smi)");
    });

    it("finds AMD GPUs in sysfs without rocm-smi, and explains that without /dev/kfd they cannot compute", async () => {
        const report = await detectHardware(createFakeProbes({
            dirs: { "/sys/class/drm": ["card0", "card0-DP-1", "card1", "renderD128"] },
            files: {
                "/sys/class/drm/card0/device/vendor": "0x8086\n",
                "/sys/class/drm/card1/device/vendor": "0x1002\n",
                "/sys/class/drm/card1/device/mem_info_vram_total": "17163091968\n",
                "/sys/class/drm/card1/device/mem_info_vram_used": "163091968\n"
            }
        }));
        expect(report.amd.rocmSmi).toBe("missing");
        expect(report.amd.present).toBe(false);
        expect(report.amd.devices).toEqual([{ name: "AMD GPU (card1)", memoryTotalBytes: 17163091968, memoryFreeBytes: 17000000000 }]);
        expect(report.amd.reason).toContain("/dev/kfd is missing");
        expect(report.amd.reason).toContain("--device /dev/kfd");
    });

    it("counts /dev/kfd alone as an AMD GPU present", async () => {
        const report = await detectHardware(createFakeProbes({ existing: ["/dev/kfd"] }));
        expect(report.amd.present).toBe(true);
        expect(report.amd.reason).toBe("/dev/kfd present, GPU names unknown (rocm-smi not on PATH)");
    });

    it("finds the Vulkan loader and hardware ICDs, leaving out lavapipe; VK_ICD_FILENAMES overrides the search", async () => {
        const report = await detectHardware(createFakeProbes({
            libraries: ["libvulkan.so.1"],
            dirs: {
                "/usr/share/vulkan/icd.d": ["lvp_icd.x86_64.json", "radeon_icd.x86_64.json", "README"],
                "/etc/vulkan/icd.d": ["nvidia_icd.json"]
            }
        }));
        expect(report.vulkan).toMatchObject({
            loaderFound: true,
            path: "/usr/lib/x86_64-linux-gnu/libvulkan.so.1",
            icds: ["/etc/vulkan/icd.d/nvidia_icd.json", "/usr/share/vulkan/icd.d/radeon_icd.x86_64.json"]
        });

        const onlySoftware = await detectHardware(createFakeProbes({ libraries: ["libvulkan.so.1"], dirs: { "/usr/share/vulkan/icd.d": ["lvp_icd.x86_64.json"] } }));
        expect(onlySoftware.vulkan.icds).toEqual([]);
        expect(onlySoftware.vulkan.reason).toContain("only software drivers (lvp_icd.x86_64.json)");

        const overridden = await detectHardware(createFakeProbes({
            libraries: ["libvulkan.so.1"],
            env: { VK_ICD_FILENAMES: "/opt/icd/intel_icd.json:/opt/icd/lvp_icd.json" },
            dirs: { "/etc/vulkan/icd.d": ["nvidia_icd.json"] }
        }));
        expect(overridden.vulkan.icds).toEqual(["/opt/icd/intel_icd.json"]);

        const noLoader = await detectHardware(createFakeProbes({ dirs: { "/etc/vulkan/icd.d": ["nvidia_icd.json"] } }));
        expect(noLoader.vulkan.loaderFound).toBe(false);
        expect(noLoader.vulkan.reason).toBe("Vulkan loader libvulkan.so.1 not found");
    });

    it("describes the CPU from /proc/cpuinfo and /proc/meminfo, with a cgroup memory limit", async () => {
        const report = await detectHardware(createFakeProbes({
            files: { "/proc/cpuinfo": x86CpuInfo, "/proc/meminfo": meminfo, "/sys/fs/cgroup/memory.max": "8589934592\n" },
            os: { logicalCpus: 3 }
        }));
        expect(report.cpu).toEqual({
            model: "Intel(R) Xeon(R) Platinum 8480+",
            arch: "x64",
            cores: 4,
            threads: 3,
            memoryTotalBytes: 65857580 * 1024,
            memoryFreeBytes: 50000000 * 1024,
            memoryLimitBytes: 8589934592,
            simd: ["sse3", "ssse3", "sse4_1", "sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl", "avx512_vnni", "amx_tile"]
        });
    });

    it("falls back to os facts where /proc is missing and ignores an unlimited cgroup", async () => {
        const report = await detectHardware(createFakeProbes({
            files: { "/sys/fs/cgroup/memory.max": "max\n" },
            os: { platform: "darwin", arch: "arm64", cpuModel: "Apple M2", logicalCpus: 8 }
        }));
        expect(report.os).toEqual({ platform: "darwin", arch: "arm64", release: "6.1.0" });
        expect(report.cpu).toEqual({
            model: "Apple M2",
            arch: "arm64",
            cores: 8,
            threads: 8,
            memoryTotalBytes: 16 * 1024 ** 3,
            memoryFreeBytes: 8 * 1024 ** 3,
            simd: []
        });
    });

    it("asks for every backend's binary", async () => {
        const report = await detectHardware(createFakeProbes({ binaries: { vulkan: { found: false, reason: "nope" } } }));
        expect(Object.keys(report.binaries).sort()).toEqual(["cpu", "cuda", "rocm", "vulkan"]);
        expect(report.binaries.vulkan).toEqual({ found: false, reason: "nope" });
        expect(report.binaries.cuda.found).toBe(true);
    });
});
