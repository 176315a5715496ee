# The firmware's source list (sources.mk) for CMake builds: the ESP-IDF components in
# ports/esp-idf include this file and get, as absolute paths, every NAME := list that
# sources.mk defines (EAI_RUNTIME_SRCS, EAI_PUBLIC_INCLUDES, ...) and EAI_FIRMWARE_DIR.
# It runs in ESP-IDF's early requirements pass too (CMake script mode), so it uses only
# commands that work there.

get_filename_component(EAI_FIRMWARE_DIR "${CMAKE_CURRENT_LIST_DIR}" ABSOLUTE)
file(READ "${EAI_FIRMWARE_DIR}/sources.mk" __eai_mk)
string(REGEX REPLACE "\\\\\n" " " __eai_mk "${__eai_mk}") # join continued lines
string(REPLACE ";" "\\;" __eai_mk "${__eai_mk}")
string(REPLACE "\n" ";" __eai_lines "${__eai_mk}")
foreach(__eai_line IN LISTS __eai_lines)
    string(REGEX REPLACE "#.*$" "" __eai_line "${__eai_line}")
    if(__eai_line MATCHES "^[ \t]*([A-Za-z_][A-Za-z0-9_]*)[ \t]*:=(.*)$")
        set(__eai_name "${CMAKE_MATCH_1}")
        separate_arguments(__eai_words UNIX_COMMAND "${CMAKE_MATCH_2}")
        set(${__eai_name} "")
        foreach(__eai_word IN LISTS __eai_words)
            list(APPEND ${__eai_name} "${EAI_FIRMWARE_DIR}/${__eai_word}")
        endforeach()
    elseif(NOT __eai_line MATCHES "^[ \t]*$")
        message(FATAL_ERROR "${EAI_FIRMWARE_DIR}/sources.mk: cannot read '${__eai_line}' (only NAME := words)")
    endif()
endforeach()
