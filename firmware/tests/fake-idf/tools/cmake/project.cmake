# A fake ESP-IDF v5 build system: just enough of tools/cmake/project.cmake to configure and
# build an ESP-IDF project the way `idf.py build` does, with Debian's RISC-V compiler and the
# stub components beside this folder (../../components). `make esp-idf-check` uses it to
# compile and link exactly what the real build would compile, so a source, an include folder
# or a symbol missing from a component fails CI instead of a user's first build.
#
# What it does as ESP-IDF v5.5 does (tools/cmake/project.cmake, build.cmake, component.cmake):
#   - components are folders holding a CMakeLists.txt, named after the folder: IDF's own
#     ($IDF_PATH/components/*), then EXTRA_COMPONENT_DIRS (a component folder, or a folder of
#     them), then the project's components/* and main/; a later one of the same name wins;
#   - each component's CMakeLists.txt is first run in an early pass in which
#     idf_component_register() only records REQUIRES and PRIV_REQUIRES and returns, then for
#     real in its own directory scope;
#   - SRCS are taken relative to the component folder; an include folder that is not a
#     directory is a fatal error ("Include directory '...' is not a directory."), and so is a
#     requirement that names no component ("Failed to resolve component '...'");
#   - a component sees the public include folders of the components it requires, of their
#     public requirements, and of the common components every component requires; `main`
#     with no REQUIRES or PRIV_REQUIRES requires every component;
#   - sdkconfig.h (in the build's config/ folder, on every component's include path) comes
#     from the project's sdkconfig.defaults and sdkconfig.defaults.<target> over the
#     target's Kconfig defaults (kconfig_defaults.cmake here), and CONFIG_* are CMake variables;
#   - compiler flags: IDF's for RISC-V targets (-march, -mabi, -std=gnu17, its warning set).
# Where it is stricter: every warning is an error, and the project's own components are
# linked whole (--whole-archive), so an undefined symbol in any compiled file fails the link.
# What it is not: no Kconfig menus, no linker fragments, no bootloader, no Xtensa.

cmake_minimum_required(VERSION 3.16)

get_filename_component(IDF_PATH "$ENV{IDF_PATH}" ABSOLUTE)
set(__eai_idf_tools "${CMAKE_CURRENT_LIST_DIR}")

if(NOT IDF_TARGET)
    if(DEFINED ENV{IDF_TARGET})
        set(IDF_TARGET "$ENV{IDF_TARGET}")
    else()
        set(IDF_TARGET esp32c3)
    endif()
endif()
set(IDF_TARGET "${IDF_TARGET}" CACHE STRING "the chip" FORCE)

# The RISC-V chips and their ISA (ESP-IDF's toolchain-<target>.cmake, riscv's project_include).
if(IDF_TARGET STREQUAL "esp32c3")
    set(__eai_march rv32imc_zicsr_zifencei)
    set(__eai_link_march rv32imc)
elseif(IDF_TARGET STREQUAL "esp32c6")
    set(__eai_march rv32imac_zicsr_zifencei)
    set(__eai_link_march rv32imac)
elseif(IDF_TARGET STREQUAL "esp32" OR IDF_TARGET STREQUAL "esp32s3")
    message(FATAL_ERROR "fake ESP-IDF: ${IDF_TARGET} is an Xtensa chip, and there is no Xtensa compiler here")
else()
    message(FATAL_ERROR "fake ESP-IDF: unknown target '${IDF_TARGET}'")
endif()

set(CMAKE_SYSTEM_NAME Generic)
set(CMAKE_SYSTEM_PROCESSOR riscv32)
set(CMAKE_C_COMPILER riscv64-unknown-elf-gcc)
set(CMAKE_ASM_COMPILER riscv64-unknown-elf-gcc)
set(CMAKE_TRY_COMPILE_TARGET_TYPE STATIC_LIBRARY)
set(CMAKE_C_FLAGS_INIT "-march=${__eai_march} -mabi=ilp32 --specs=picolibc.specs")
# Linked as plain rv32imc/rv32imac (after the compile flags, so it wins): the multilib picolibc
# is chosen by that name.
set(CMAKE_EXE_LINKER_FLAGS_INIT "-march=${__eai_link_march} -mabi=ilp32")

# The components every component requires (ESP-IDF v5.5, RISC-V: build.cmake's
# __build_init sets cxx newlib freertos esp_hw_support heap log soc hal esp_rom esp_common
# esp_system riscv); those the fake has.
set(__eai_common_reqs freertos esp_hw_support log soc hal esp_common esp_system)

include("${__eai_idf_tools}/kconfig_defaults.cmake")

# ---- build properties --------------------------------------------------------------------------

function(idf_build_get_property var property)
    if(property STREQUAL "IDF_TARGET")
        set(${var} "${IDF_TARGET}" PARENT_SCOPE)
    elseif(property STREQUAL "IDF_PATH")
        set(${var} "${IDF_PATH}" PARENT_SCOPE)
    elseif(property STREQUAL "PROJECT_DIR")
        set(${var} "${CMAKE_SOURCE_DIR}" PARENT_SCOPE)
    elseif(property STREQUAL "BUILD_DIR")
        set(${var} "${CMAKE_BINARY_DIR}" PARENT_SCOPE)
    elseif(property STREQUAL "CONFIG_DIR")
        set(${var} "${CMAKE_BINARY_DIR}/config" PARENT_SCOPE)
    elseif(property STREQUAL "IDF_VER")
        set(${var} "v5.5-fake" PARENT_SCOPE)
    else()
        message(FATAL_ERROR "fake ESP-IDF: build property ${property} is not emulated; add it to ${CMAKE_CURRENT_FUNCTION_LIST_FILE}")
    endif()
endfunction()

function(idf_component_get_property var component property)
    if(NOT DEFINED __eai_comp_dir_${component})
        message(FATAL_ERROR "Failed to resolve component '${component}'.")
    endif()
    if(property STREQUAL "COMPONENT_LIB")
        set(${var} "__idf_${component}" PARENT_SCOPE)
    elseif(property STREQUAL "COMPONENT_DIR")
        set(${var} "${__eai_comp_dir_${component}}" PARENT_SCOPE)
    else()
        message(FATAL_ERROR "fake ESP-IDF: component property ${property} is not emulated")
    endif()
endfunction()

# ---- component registration -------------------------------------------------------------------

# In the early pass (__eai_early) it records the requirements and returns from the component's
# CMakeLists.txt, as ESP-IDF's component_get_requirements.cmake does; in the real pass it
# creates the component's library.
macro(idf_component_register)
    if(__eai_early)
        cmake_parse_arguments(__early "" "KCONFIG;KCONFIG_PROJBUILD"
            "SRCS;SRC_DIRS;EXCLUDE_SRCS;INCLUDE_DIRS;PRIV_INCLUDE_DIRS;LDFRAGMENTS;REQUIRES;PRIV_REQUIRES;REQUIRED_IDF_TARGETS;EMBED_FILES;EMBED_TXTFILES"
            ${ARGN})
        set(__component_requires "${__early_REQUIRES}")
        set(__component_priv_requires "${__early_PRIV_REQUIRES}")
        set(__component_registered 1)
        return()
    endif()
    __eai_component_register(${ARGN})
endmacro()

function(__eai_check_requirement req)
    if(NOT DEFINED __eai_comp_dir_${req})
        message(FATAL_ERROR "Failed to resolve component '${req}' required by component '${COMPONENT_NAME}'.")
    endif()
endfunction()

function(__eai_component_register)
    cmake_parse_arguments(_ "" "KCONFIG;KCONFIG_PROJBUILD"
        "SRCS;SRC_DIRS;EXCLUDE_SRCS;INCLUDE_DIRS;PRIV_INCLUDE_DIRS;LDFRAGMENTS;REQUIRES;PRIV_REQUIRES;REQUIRED_IDF_TARGETS;EMBED_FILES;EMBED_TXTFILES"
        ${ARGN})
    if(NOT __idf_component_context)
        message(FATAL_ERROR "Called idf_component_register from a non-component directory.")
    endif()
    if(__REQUIRED_IDF_TARGETS AND NOT IDF_TARGET IN_LIST __REQUIRED_IDF_TARGETS)
        message(FATAL_ERROR "Component ${COMPONENT_NAME} only supports targets: ${__REQUIRED_IDF_TARGETS}")
    endif()
    foreach(unsupported LDFRAGMENTS EMBED_FILES EMBED_TXTFILES KCONFIG KCONFIG_PROJBUILD)
        if(__${unsupported})
            message(FATAL_ERROR "fake ESP-IDF: ${unsupported} is not emulated (component ${COMPONENT_NAME})")
        endif()
    endforeach()

    set(sources "")
    if(__SRCS)
        foreach(src ${__SRCS})
            get_filename_component(src "${src}" ABSOLUTE BASE_DIR "${COMPONENT_DIR}")
            list(APPEND sources "${src}")
        endforeach()
    elseif(__SRC_DIRS)
        foreach(dir ${__SRC_DIRS})
            get_filename_component(abs_dir "${dir}" ABSOLUTE BASE_DIR "${COMPONENT_DIR}")
            if(NOT IS_DIRECTORY "${abs_dir}")
                message(FATAL_ERROR "SRC_DIRS entry '${dir}' does not exist.")
            endif()
            file(GLOB dir_sources "${abs_dir}/*.c" "${abs_dir}/*.S")
            list(SORT dir_sources)
            list(APPEND sources ${dir_sources})
        endforeach()
        foreach(src ${__EXCLUDE_SRCS})
            get_filename_component(src "${src}" ABSOLUTE BASE_DIR "${COMPONENT_DIR}")
            list(REMOVE_ITEM sources "${src}")
        endforeach()
    endif()
    list(REMOVE_DUPLICATES sources)
    # ESP-IDF leaves a missing source to CMake, which stops at generation ("Cannot find source
    # file"); say it at once, with the component's name.
    foreach(src ${sources})
        if(NOT EXISTS "${src}")
            message(FATAL_ERROR "Cannot find source file: ${src} (component ${COMPONENT_NAME}, ${CMAKE_CURRENT_LIST_FILE})")
        endif()
    endforeach()

    set(lib "__idf_${COMPONENT_NAME}")
    set(requires ${__REQUIRES} ${__eai_common_reqs})
    list(REMOVE_DUPLICATES requires)
    list(REMOVE_ITEM requires "${COMPONENT_NAME}")
    set(priv_requires ${__PRIV_REQUIRES})
    if(COMPONENT_NAME STREQUAL "main" AND NOT __REQUIRES AND NOT __PRIV_REQUIRES)
        set(priv_requires ${__eai_components})
        list(REMOVE_ITEM priv_requires main)
    endif()
    list(REMOVE_ITEM priv_requires "${COMPONENT_NAME}")
    foreach(req ${requires} ${priv_requires})
        __eai_check_requirement(${req})
    endforeach()

    if(sources)
        add_library(${lib} STATIC ${sources})
        set(scope PUBLIC)
        set(priv_scope PRIVATE)
        set_property(GLOBAL APPEND PROPERTY __EAI_LIBRARY_COMPONENTS ${COMPONENT_NAME})
        set_target_properties(${lib} PROPERTIES OUTPUT_NAME ${COMPONENT_NAME} LINKER_LANGUAGE C)
    else()
        add_library(${lib} INTERFACE)
        set(scope INTERFACE)
        set(priv_scope "")
    endif()
    foreach(dir ${__INCLUDE_DIRS})
        get_filename_component(_dir "${dir}" ABSOLUTE BASE_DIR "${CMAKE_CURRENT_LIST_DIR}")
        if(NOT IS_DIRECTORY "${_dir}")
            message(FATAL_ERROR "Include directory '${_dir}' is not a directory.")
        endif()
        target_include_directories(${lib} ${scope} "${_dir}")
    endforeach()
    if(priv_scope)
        foreach(dir ${__PRIV_INCLUDE_DIRS})
            get_filename_component(_dir "${dir}" ABSOLUTE BASE_DIR "${CMAKE_CURRENT_LIST_DIR}")
            if(NOT IS_DIRECTORY "${_dir}")
                message(FATAL_ERROR "Include directory '${_dir}' is not a directory.")
            endif()
            target_include_directories(${lib} PRIVATE "${_dir}")
        endforeach()
    endif()
    target_include_directories(${lib} ${scope} "${CMAKE_BINARY_DIR}/config")
    foreach(req ${requires})
        target_link_libraries(${lib} ${scope} __idf_${req})
    endforeach()
    if(priv_scope)
        foreach(req ${priv_requires})
            target_link_libraries(${lib} PRIVATE __idf_${req})
        endforeach()
    endif()
    set_property(GLOBAL PROPERTY __EAI_SOURCES_${COMPONENT_NAME} "${sources}")
    set(COMPONENT_LIB ${lib} PARENT_SCOPE)
    set(COMPONENT_TARGET ${lib} PARENT_SCOPE)
endfunction()

# ---- components --------------------------------------------------------------------------------

# Add the component in `dir` (a folder holding CMakeLists.txt); a later one of the same name
# replaces an earlier one, as in ESP-IDF.
macro(__eai_add_component dir)
    get_filename_component(__abs "${dir}" ABSOLUTE)
    get_filename_component(__name "${__abs}" NAME)
    if(NOT EXISTS "${__abs}/CMakeLists.txt")
        message(FATAL_ERROR "Directory '${dir}' does not contain a component.")
    endif()
    if(NOT __name IN_LIST __eai_components)
        list(APPEND __eai_components ${__name})
    endif()
    set(__eai_comp_dir_${__name} "${__abs}")
endmacro()

# Every folder with a CMakeLists.txt in `parent` (ESP-IDF skips the others, and dot-folders).
macro(__eai_add_components_in parent)
    file(GLOB __children LIST_DIRECTORIES true "${parent}/*")
    list(SORT __children)
    foreach(__child ${__children})
        get_filename_component(__child_name "${__child}" NAME)
        if(IS_DIRECTORY "${__child}" AND EXISTS "${__child}/CMakeLists.txt" AND NOT __child_name MATCHES "^\\.")
            __eai_add_component("${__child}")
        endif()
    endforeach()
endmacro()

# The early pass over one component, in its own variable scope.
function(__eai_component_requirements name)
    set(__eai_early 1)
    set(CMAKE_BUILD_EARLY_EXPANSION 1)
    set(COMPONENT_NAME ${name})
    set(COMPONENT_DIR "${__eai_comp_dir_${name}}")
    set(__component_registered 0)
    include("${COMPONENT_DIR}/CMakeLists.txt")
    if(NOT __component_registered)
        message(FATAL_ERROR "Component ${name} (${COMPONENT_DIR}) does not call idf_component_register().")
    endif()
endfunction()

macro(project project_name)
    # Kconfig: the target's defaults, then the project's sdkconfig.defaults files over them.
    __eai_kconfig("${CMAKE_CURRENT_LIST_DIR}" "${CMAKE_BINARY_DIR}/config")

    _project(${project_name} C ASM)

    add_compile_options(
        # ESP-IDF's (build.cmake __build_set_default_build_specifications, __build_set_lang_version)
        -ffunction-sections -fdata-sections -Wall -Werror=all -Wno-error=unused-function
        -Wno-error=unused-variable -Wno-error=unused-but-set-variable
        -Wno-error=deprecated-declarations -Wextra -Wno-unused-parameter -Wno-sign-compare
        -Wno-enum-conversion -gdwarf-4 -ggdb -nostartfiles -fstrict-volatile-bitfields
        -fno-jump-tables -fno-tree-switch-conversion -O2 $<$<COMPILE_LANGUAGE:C>:-std=gnu17>
        $<$<COMPILE_LANGUAGE:C>:-Wno-old-style-declaration>
        # stricter than ESP-IDF: every warning fails
        -Werror)
    add_compile_definitions(ESP_PLATFORM IDF_VER="v5.5-fake" _GNU_SOURCE)

    set(__eai_components "")
    __eai_add_components_in("${IDF_PATH}/components")
    set(__eai_idf_components ${__eai_components})
    foreach(__dir ${EXTRA_COMPONENT_DIRS})
        get_filename_component(__dir "${__dir}" ABSOLUTE BASE_DIR "${CMAKE_CURRENT_LIST_DIR}")
        if(EXISTS "${__dir}/CMakeLists.txt")
            __eai_add_component("${__dir}")
        elseif(IS_DIRECTORY "${__dir}")
            __eai_add_components_in("${__dir}")
        else()
            message(FATAL_ERROR "EXTRA_COMPONENT_DIRS entry '${__dir}' does not exist.")
        endif()
    endforeach()
    if(IS_DIRECTORY "${CMAKE_CURRENT_LIST_DIR}/components")
        __eai_add_components_in("${CMAKE_CURRENT_LIST_DIR}/components")
    endif()
    if(EXISTS "${CMAKE_CURRENT_LIST_DIR}/main/CMakeLists.txt")
        __eai_add_component("${CMAKE_CURRENT_LIST_DIR}/main")
    endif()

    foreach(__name ${__eai_components})
        __eai_component_requirements(${__name})
    endforeach()

    set(__idf_component_context 1)
    set(__project_libs "")
    foreach(__name ${__eai_components})
        set(COMPONENT_NAME ${__name})
        set(COMPONENT_DIR "${__eai_comp_dir_${__name}}")
        set(COMPONENT_ALIAS "idf::${__name}")
        add_subdirectory("${COMPONENT_DIR}" "${CMAKE_BINARY_DIR}/esp-idf/${__name}")
    endforeach()
    unset(__idf_component_context)

    # The app: the fake IDF's startup (main() calls app_main(), as ESP-IDF's main task does)
    # linked with every component library; the project's own ones whole.
    get_property(__libs GLOBAL PROPERTY __EAI_LIBRARY_COMPONENTS)
    set(__whole "")
    set(__idf_libs "")
    set(__listing "")
    foreach(__name ${__libs})
        string(FIND "${__eai_comp_dir_${__name}}/" "${IDF_PATH}/" __in_idf)
        if(__in_idf EQUAL 0)
            list(APPEND __idf_libs __idf_${__name})
        else()
            list(APPEND __whole __idf_${__name})
            get_property(__srcs GLOBAL PROPERTY __EAI_SOURCES_${__name})
            foreach(__src ${__srcs})
                string(APPEND __listing "${__name} ${__src}\n")
            endforeach()
        endif()
    endforeach()
    # What the project's components compile, one "component path" a line, for the check.
    file(WRITE "${CMAKE_BINARY_DIR}/project_sources.txt" "${__listing}")
    add_executable(${project_name}.elf "${__eai_idf_tools}/../../startup.c")
    target_link_libraries(${project_name}.elf PRIVATE
        -Wl,--whole-archive ${__whole} -Wl,--no-whole-archive
        -Wl,--start-group ${__idf_libs} -Wl,--end-group)
    target_link_options(${project_name}.elf PRIVATE
        -Wl,--no-warn-rwx-segments -Wl,-Map,${CMAKE_BINARY_DIR}/${project_name}.map
        # picolibc's default link script: put the image somewhere with room for the arena
        -Wl,--defsym=__flash=0x42000000 -Wl,--defsym=__flash_size=0x800000
        -Wl,--defsym=__ram=0x3fc80000 -Wl,--defsym=__ram_size=0x80000)
endmacro()
