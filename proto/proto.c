int mcs_proto_placeholder(void); int mcs_proto_placeholder(void){return 0;}
