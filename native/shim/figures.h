/*
 * A job's card as its daemon last measured it (native/shim/card_figures.c), for the client side of
 * NVML (native/nvml): not CUDA, exported by the client library as gpupoolDeviceFigures.
 */
#ifndef GPUPOOL_SHIM_FIGURES_H
#define GPUPOOL_SHIM_FIGURES_H

/* A figure the daemon could not read (its vendor library did not say) is NaN; healthy is -1 then. */
typedef struct gpupool_figures {
    double gpu_percent, memory_percent;
    double temperature_c;
    double power_w;
    int healthy;
} gpupool_figures;

/* 0 with *out filled, or -1: no such device, or its daemon's figures could not be read. */
int gpupoolDeviceFigures(int dev, gpupool_figures *out);

#endif
