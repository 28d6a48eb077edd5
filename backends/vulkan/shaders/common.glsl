// Shared by every gessl compute shader: one 128-byte push-constant block (the minimum every
// Vulkan device offers) read as 32 words whose meaning each shader documents, and grid-stride
// helpers so a dispatch never needs more work groups than the device allows.
#extension GL_GOOGLE_include_directive : enable

layout(push_constant) uniform PC { uint u[32]; } pc;

float pcf(uint i) { return uintBitsToFloat(pc.u[i]); }

// Macros, not functions: gl_WorkGroupSize must be read after the shader's local-size layout,
// or it is still the default (1, 1, 1).
#define grid_first() (gl_GlobalInvocationID.x)
#define grid_step() (gl_NumWorkGroups.x * gl_WorkGroupSize.x)
