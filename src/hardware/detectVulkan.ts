import path from "node:path";
import type { HardwareProbes } from "./HardwareProbes.js";
import { vulkanLoaderLibrary } from "./cudaRequirements.js";
import type { SharedLibrary, VulkanReport } from "./types.js";

const icdDirs = ["/etc/vulkan/icd.d", "/usr/share/vulkan/icd.d", "/usr/local/share/vulkan/icd.d"];

/** The Vulkan loader and the driver manifests (ICDs) it would load. */
export async function detectVulkan(probes: HardwareProbes, libraries: Map<string, SharedLibrary>): Promise<VulkanReport> {
    const loader = libraries.get(vulkanLoaderLibrary);
    const loaderFound = loader?.onLoaderPath === true;

    // VK_DRIVER_FILES / VK_ICD_FILENAMES replace the default search, as in the loader itself.
    const override = probes.env("VK_DRIVER_FILES") ?? probes.env("VK_ICD_FILENAMES");
    const manifests: string[] = [];
    if (override != null && override !== "")
        manifests.push(...override.split(path.delimiter).filter((entry) => entry !== ""));
    else
        for (const dir of icdDirs)
            for (const name of (await probes.readDir(dir)).sort())
                if (name.endsWith(".json"))
                    manifests.push(path.join(dir, name));
    // lavapipe renders on the CPU: llama.cpp on it is slower than the CPU backend.
    const icds = manifests.filter((manifest) => !/lvp_icd|lavapipe|swiftshader/i.test(path.basename(manifest)));

    let reason: string;
    if (!loaderFound)
        reason = loader != null
            ? `${vulkanLoaderLibrary} is at ${loader.path} but not on the loader path`
            : `Vulkan loader ${vulkanLoaderLibrary} not found`;
    else if (icds.length === 0)
        reason = manifests.length > 0
            ? `Vulkan loader found, but only software drivers (${manifests.map((manifest) => path.basename(manifest)).join(", ")})`
            : `Vulkan loader found, but no Vulkan driver manifest (ICD) in ${icdDirs.join(", ")}`;
    else
        reason = `Vulkan loader ${loader?.path ?? ""}, drivers: ${icds.map((manifest) => path.basename(manifest)).join(", ")}`;

    return {
        loaderFound,
        ...(loader != null ? { path: loader.path } : {}),
        icds,
        reason
    };
}
